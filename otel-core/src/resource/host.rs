//! `host.*` and `os.*` attributes.

use super::fs::FileSystemRoot;
use crate::config::Environment;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::resource::{
    HOST_ARCH, HOST_ID, HOST_NAME, OS_DESCRIPTION, OS_NAME, OS_TYPE, OS_VERSION,
};

/// Files holding the host name, in the order tried (Linux).
const HOSTNAME_FILES: [&str; 2] = ["/proc/sys/kernel/hostname", "/etc/hostname"];
/// Environment variables holding the host name, tried after the files.
const HOSTNAME_VARS: [&str; 2] = ["HOSTNAME", "COMPUTERNAME"];
/// Files holding the machine id, in the order tried.
const MACHINE_ID_FILES: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];
/// Files holding the os-release data, in the order tried.
const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// `host.name`, `host.arch` and (when `with_id`) `host.id`.
pub(crate) fn detect_host(
    env: &Environment,
    root: &FileSystemRoot,
    with_id: bool,
    out: &mut Vec<KeyValue>,
) {
    if let Some(name) = host_name(env, root) {
        out.push(KeyValue::new(HOST_NAME, name));
    }
    out.push(KeyValue::new(HOST_ARCH, host_arch(std::env::consts::ARCH)));
    if with_id && let Some(id) = machine_id(root) {
        out.push(KeyValue::new(HOST_ID, id));
    }
}

/// `os.type`, and on systems with an os-release file `os.description`
/// (`PRETTY_NAME`), `os.name` (`NAME`) and `os.version` (`VERSION_ID`).
pub(crate) fn detect_os(root: &FileSystemRoot, out: &mut Vec<KeyValue>) {
    out.push(KeyValue::new(OS_TYPE, os_type(std::env::consts::OS)));
    let Some(text) = OS_RELEASE_FILES
        .iter()
        .find_map(|path| root.read_to_string(path))
    else {
        return;
    };
    let release = OsRelease::parse(&text);
    for (key, value) in [
        (OS_DESCRIPTION, release.pretty_name),
        (OS_NAME, release.name),
        (OS_VERSION, release.version_id),
    ] {
        if let Some(value) = value {
            out.push(KeyValue::new(key, value));
        }
    }
}

/// The host name: the kernel's (`/proc/sys/kernel/hostname`), else
/// `/etc/hostname`, else the `HOSTNAME` or `COMPUTERNAME` variable.
/// No process is spawned.
fn host_name(env: &Environment, root: &FileSystemRoot) -> Option<String> {
    HOSTNAME_FILES
        .iter()
        .find_map(|path| root.read_first_line(path))
        .or_else(|| {
            HOSTNAME_VARS
                .iter()
                .find_map(|var| env.get(var).map(str::to_owned))
        })
}

/// The machine id (`/etc/machine-id`, else `/var/lib/dbus/machine-id`) when it
/// is the 32 hex digits systemd writes; anything else (e.g. `uninitialized`
/// during first boot) is ignored.
fn machine_id(root: &FileSystemRoot) -> Option<String> {
    MACHINE_ID_FILES.iter().find_map(|path| {
        let id = root.read_first_line(path)?;
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    })
}

/// Maps Rust's `std::env::consts::ARCH` to the semantic-convention values of
/// `host.arch`; unlisted architectures keep Rust's name.
pub(crate) fn host_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm32",
        "x86" => "x86",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// Maps Rust's `std::env::consts::OS` to the semantic-convention values of
/// `os.type`; unlisted systems keep Rust's name.
pub(crate) fn os_type(rust_os: &str) -> &str {
    match rust_os {
        "macos" | "ios" | "tvos" | "watchos" | "visionos" => "darwin",
        "dragonfly" => "dragonflybsd",
        "solaris" | "illumos" => "solaris",
        other => other,
    }
}

/// The fields of an os-release file (freedesktop `os-release(5)`) we use.
#[derive(Debug, Default, PartialEq, Eq)]
struct OsRelease {
    pretty_name: Option<String>,
    name: Option<String>,
    version_id: Option<String>,
}

impl OsRelease {
    fn parse(text: &str) -> Self {
        let mut release = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((key, raw)) = line.split_once('=') else {
                continue;
            };
            let slot = match key.trim() {
                "PRETTY_NAME" => &mut release.pretty_name,
                "NAME" => &mut release.name,
                "VERSION_ID" => &mut release.version_id,
                _ => continue,
            };
            let value = unquote(raw.trim());
            if !value.is_empty() {
                *slot = Some(value);
            }
        }
        release
    }
}

/// Removes shell-style quotes: `"a \"b\""` → `a "b"`, `'x'` → `x`.
fn unquote(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return raw[1..raw.len() - 1].to_owned();
    }
    let inner = if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        &raw[1..raw.len() - 1]
    } else {
        raw
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fs::test_tree::TempTree;
    use super::*;

    fn get(out: &[KeyValue], key: &str) -> Option<String> {
        out.iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn host_from_fake_tree() {
        let tree = TempTree::new()
            .file("/proc/sys/kernel/hostname", "web-1\n")
            .file("/etc/hostname", "ignored\n")
            .file("/etc/machine-id", "0123456789abcdef0123456789ABCDEF\n");
        let mut out = Vec::new();
        detect_host(&Environment::default(), &tree.root(), true, &mut out);
        assert_eq!(get(&out, HOST_NAME).as_deref(), Some("web-1"));
        assert_eq!(
            get(&out, HOST_ID).as_deref(),
            Some("0123456789abcdef0123456789ABCDEF")
        );
        assert_eq!(
            get(&out, HOST_ARCH).as_deref(),
            Some(host_arch(std::env::consts::ARCH))
        );

        let mut out = Vec::new();
        detect_host(&Environment::default(), &tree.root(), false, &mut out);
        assert_eq!(get(&out, HOST_ID), None, "host.id switched off");
    }

    #[test]
    fn host_name_fallbacks() {
        let etc_only = TempTree::new().file("/etc/hostname", " box \n");
        let empty = TempTree::new();
        let env = Environment::from_pairs([("HOSTNAME", "from-env")]);
        let win = Environment::from_pairs([("COMPUTERNAME", "WINBOX")]);
        let cases = [
            (&etc_only, Environment::default(), Some("box")),
            (&empty, env, Some("from-env")),
            (&empty, win, Some("WINBOX")),
            (&empty, Environment::default(), None),
        ];
        for (tree, env, expected) in cases {
            assert_eq!(host_name(&env, &tree.root()).as_deref(), expected);
        }
    }

    #[test]
    fn machine_id_sources_and_validation() {
        let dbus = TempTree::new().file(
            "/var/lib/dbus/machine-id",
            "fdbf79e8af94cb7f9e8df36789187052",
        );
        let uninitialized = TempTree::new().file("/etc/machine-id", "uninitialized\n");
        let short = TempTree::new().file("/etc/machine-id", "abc123\n");
        let none = TempTree::new();
        let cases = [
            (&dbus, Some("fdbf79e8af94cb7f9e8df36789187052")),
            (&uninitialized, None),
            (&short, None),
            (&none, None),
        ];
        for (tree, expected) in cases {
            assert_eq!(machine_id(&tree.root()).as_deref(), expected);
        }
    }

    #[test]
    fn semconv_arch_and_os_values() {
        let arch = [
            ("x86_64", "amd64"),
            ("aarch64", "arm64"),
            ("arm", "arm32"),
            ("x86", "x86"),
            ("powerpc", "ppc32"),
            ("powerpc64", "ppc64"),
            ("s390x", "s390x"),
            ("riscv64", "riscv64"),
        ];
        for (rust, semconv) in arch {
            assert_eq!(host_arch(rust), semconv);
        }
        let os = [
            ("linux", "linux"),
            ("macos", "darwin"),
            ("ios", "darwin"),
            ("windows", "windows"),
            ("freebsd", "freebsd"),
            ("dragonfly", "dragonflybsd"),
            ("illumos", "solaris"),
            ("aix", "aix"),
        ];
        for (rust, semconv) in os {
            assert_eq!(os_type(rust), semconv);
        }
    }

    #[test]
    fn os_from_os_release() {
        let tree = TempTree::new().file(
            "/etc/os-release",
            "# comment\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME='Debian GNU/Linux'\nVERSION_ID=\"12\"\nID=debian\n",
        );
        let mut out = Vec::new();
        detect_os(&tree.root(), &mut out);
        assert_eq!(
            get(&out, OS_TYPE).as_deref(),
            Some(os_type(std::env::consts::OS))
        );
        assert_eq!(
            get(&out, OS_DESCRIPTION).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(get(&out, OS_NAME).as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(get(&out, OS_VERSION).as_deref(), Some("12"));

        let usr_lib = TempTree::new().file("/usr/lib/os-release", "NAME=Alpine\n");
        let mut out = Vec::new();
        detect_os(&usr_lib.root(), &mut out);
        assert_eq!(get(&out, OS_NAME).as_deref(), Some("Alpine"));
        assert_eq!(get(&out, OS_DESCRIPTION), None);

        let mut out = Vec::new();
        detect_os(&TempTree::new().root(), &mut out);
        assert_eq!(out.len(), 1, "only os.type without os-release: {out:?}");
    }

    #[test]
    fn unquotes_shell_values() {
        let cases = [
            ("plain", "plain"),
            ("\"quoted\"", "quoted"),
            ("'single \\n'", "single \\n"),
            ("\"a \\\"b\\\"\"", "a \"b\""),
            ("\"", "\""),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(unquote(raw), expected, "{raw:?}");
        }
    }
}
