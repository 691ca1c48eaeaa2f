//! Read-only access to the files resource detection looks at, under a
//! replaceable root directory.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest file detection reads; anything longer is cut at this size.
///
/// The files read (`/proc/self/cgroup`, `/proc/self/mountinfo`, `/etc/machine-id`,
/// `/etc/os-release`, the service-account namespace) are small; the cap keeps a
/// misbehaving mount from making startup slow or memory-hungry.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The directory that absolute paths such as `/proc/self/cgroup` are resolved
/// against.
///
/// [`FileSystemRoot::host`] is the real `/`. Tests point it at a temporary
/// directory holding a fake tree (`<dir>/proc/self/cgroup`, `<dir>/etc/machine-id`,
/// …), so detection can be checked for any machine without touching global state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSystemRoot {
    base: PathBuf,
}

impl Default for FileSystemRoot {
    fn default() -> Self {
        Self::host()
    }
}

impl FileSystemRoot {
    /// The real file system (`/`).
    pub fn host() -> Self {
        Self {
            base: PathBuf::from("/"),
        }
    }

    /// A root at `base`: the absolute path `/etc/machine-id` is read from
    /// `<base>/etc/machine-id`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Where `absolute` (e.g. `/proc/self/cgroup`) lives under this root.
    pub fn resolve(&self, absolute: &str) -> PathBuf {
        self.base.join(absolute.trim_start_matches('/'))
    }

    /// The UTF-8 text of the file at `absolute`, at most 1 MiB of it; `None`
    /// when it is missing, unreadable or not valid UTF-8.
    pub fn read_to_string(&self, absolute: &str) -> Option<String> {
        let file = std::fs::File::open(self.resolve(absolute)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES).read_to_end(&mut bytes).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// The first line of the file at `absolute`, trimmed; `None` when the file
    /// is missing or that line is empty.
    pub fn read_first_line(&self, absolute: &str) -> Option<String> {
        let text = self.read_to_string(absolute)?;
        let line = text.lines().next()?.trim();
        (!line.is_empty()).then(|| line.to_owned())
    }

    /// Whether `absolute` is an existing directory.
    pub fn is_dir(&self, absolute: &str) -> bool {
        self.resolve(absolute).is_dir()
    }
}

#[cfg(test)]
pub(crate) mod test_tree {
    //! Throw-away directory trees for tests (no extra dependencies).

    use super::FileSystemRoot;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// A unique directory under the system temp dir, removed on drop.
    pub(crate) struct TempTree {
        dir: PathBuf,
    }

    impl TempTree {
        pub(crate) fn new() -> Self {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "otel-core-resource-test-{}-{}-{n}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(&dir).expect("create temp tree");
            Self { dir }
        }

        /// Writes `contents` at the absolute path `absolute` inside the tree.
        pub(crate) fn file(self, absolute: &str, contents: &str) -> Self {
            let path = self.dir.join(absolute.trim_start_matches('/'));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create parent dirs");
            }
            std::fs::write(&path, contents).expect("write test file");
            self
        }

        /// Creates the directory `absolute` inside the tree.
        pub(crate) fn dir(self, absolute: &str) -> Self {
            std::fs::create_dir_all(self.dir.join(absolute.trim_start_matches('/')))
                .expect("create test dir");
            self
        }

        pub(crate) fn root(&self) -> FileSystemRoot {
            FileSystemRoot::new(&self.dir)
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_tree::TempTree;
    use super::*;

    #[test]
    fn resolves_absolute_paths_under_the_base() {
        let root = FileSystemRoot::new("/tmp/fake");
        assert_eq!(
            root.resolve("/proc/self/cgroup"),
            PathBuf::from("/tmp/fake/proc/self/cgroup")
        );
        assert_eq!(
            FileSystemRoot::host().resolve("/etc/machine-id"),
            PathBuf::from("/etc/machine-id")
        );
    }

    #[test]
    fn reads_files_and_directories_of_the_fake_tree() {
        let tree = TempTree::new()
            .file("/etc/machine-id", "\n  abc  \nsecond\n")
            .file("/etc/empty", "")
            .file("/etc/binary", "")
            .dir("/var/run/secrets");
        std::fs::write(tree.root().resolve("/etc/binary"), [0xff, 0xfe]).unwrap();
        let root = tree.root();
        // The first line only, trimmed: "\n  abc" has an empty first line.
        assert_eq!(root.read_first_line("/etc/machine-id"), None);
        assert_eq!(
            root.read_to_string("/etc/machine-id").as_deref(),
            Some("\n  abc  \nsecond\n")
        );
        assert_eq!(root.read_first_line("/etc/empty"), None);
        assert_eq!(root.read_to_string("/etc/binary"), None);
        assert_eq!(root.read_to_string("/etc/missing"), None);
        assert!(root.is_dir("/var/run/secrets"));
        assert!(!root.is_dir("/etc/machine-id"));
        assert!(!root.is_dir("/nope"));
    }
}
