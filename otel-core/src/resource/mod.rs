//! Resource detection: service, host, OS, process, container and Kubernetes.
//!
//! Three parts:
//!
//! - [`ResourceDetection`] finds attributes of the machine and process, each
//!   detector switchable with [`Detector`]. Everything is read through an
//!   [`Environment`] snapshot, a [`FileSystemRoot`] and a [`ProcessInfo`], so
//!   tests can fake all of it; no command is spawned and nothing is fetched
//!   over the network.
//! - [`parse_resource_attributes`] parses `OTEL_RESOURCE_ATTRIBUTES` strictly.
//! - [`ResourceComposer`] merges the SDK's `telemetry.sdk.*` attributes,
//!   detected attributes, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME` and
//!   attributes given in code, in that order (user code wins), into an
//!   [`opentelemetry_sdk::Resource`].
//!
//! What is detected, and from where:
//!
//! | detector | attributes | source |
//! |---|---|---|
//! | [`Detector::ServiceInstanceId`] | `service.instance.id` | a random UUID v4, once per process ([`service_instance_id`]) |
//! | [`Detector::Host`] | `host.name`, `host.arch` | `/proc/sys/kernel/hostname`, `/etc/hostname`, `HOSTNAME`, `COMPUTERNAME`; the compile target (`amd64`, `arm64`, …) |
//! | [`Detector::HostId`] | `host.id` | `/etc/machine-id`, `/var/lib/dbus/machine-id` (32 hex digits only) |
//! | [`Detector::Os`] | `os.type`; `os.description`, `os.name`, `os.version` | the compile target (`linux`, `darwin`, `windows`, …); `PRETTY_NAME`, `NAME`, `VERSION_ID` of `/etc/os-release` or `/usr/lib/os-release` |
//! | [`Detector::Process`] | `process.pid`, `process.executable.name` | the running process |
//! | [`Detector::ProcessCommandArgs`] (**off** by default: arguments may hold secrets) | `process.command_args` | the running process |
//! | [`Detector::Container`] | `container.id` | `/proc/self/cgroup`, then `/proc/self/mountinfo` (Docker, containerd, CRI-O, Podman) |
//! | [`Detector::Kubernetes`] | `k8s.namespace.name`, `k8s.pod.name`, `k8s.pod.uid`, `k8s.node.name`, `k8s.container.name`, `k8s.deployment.name` | downward-API variables and the service-account namespace file, only inside a pod (see below) |
//!
//! `service.name` and `service.version` are not detected: they come from
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` or code, with
//! `unknown_service:<executable name>` ([`default_service_name`]) as the
//! fallback applied by [`ResourceComposer::build`].
//!
//! `process.runtime.*` is not set: a Rust binary has no separate runtime
//! (these attributes describe a VM or interpreter), and
//! `telemetry.sdk.language=rust` already tells backends the language.
//!
//! ## Kubernetes
//!
//! A process is taken to run in a pod when `KUBERNETES_SERVICE_HOST` is set or
//! the service-account directory `/var/run/secrets/kubernetes.io/serviceaccount`
//! exists. Values are read from these variables, the first set one winning:
//!
//! | attribute | variables (downward API `fieldRef`) | fallback |
//! |---|---|---|
//! | `k8s.namespace.name` | `K8S_NAMESPACE_NAME`, `POD_NAMESPACE` (`metadata.namespace`) | the service-account `namespace` file |
//! | `k8s.pod.name` | `K8S_POD_NAME`, `POD_NAME` (`metadata.name`) | `HOSTNAME` |
//! | `k8s.pod.uid` | `K8S_POD_UID`, `POD_UID` (`metadata.uid`) | – |
//! | `k8s.node.name` | `K8S_NODE_NAME`, `NODE_NAME` (`spec.nodeName`) | – |
//! | `k8s.container.name` | `K8S_CONTAINER_NAME` | – |
//! | `k8s.deployment.name` | `K8S_DEPLOYMENT_NAME` | – |
//!
//! ## Why not `opentelemetry-resource-detectors`
//!
//! Its detectors read `std::env` and fixed paths (so they cannot be tested
//! against fake machines in parallel), spawn `hostname`, record
//! `process.command_args` unconditionally, and report `host.arch`/`os.type` as
//! Rust names (`x86_64`, `macos`) rather than the semantic-convention values
//! (`amd64`, `darwin`).

mod compose;
mod container;
mod env_attributes;
mod fs;
mod host;
mod kubernetes;
mod process;
mod service;

use crate::config::Environment;
pub use compose::{
    OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, ResourceComposer, ResourceDiagnostic,
};
pub use env_attributes::{ResourceAttributesError, parse_resource_attributes};
pub use fs::FileSystemRoot;
pub use kubernetes::in_kubernetes;
pub use process::ProcessInfo;
pub use service::{default_service_name, service_instance_id};

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::resource::SERVICE_INSTANCE_ID;

/// One resource detector of [`ResourceDetection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detector {
    /// `service.instance.id`, a random UUID v4 per process.
    ServiceInstanceId,
    /// `host.name`, `host.arch`.
    Host,
    /// `host.id` from the machine id (also needs [`Detector::Host`]).
    HostId,
    /// `os.type`, `os.description`, `os.name`, `os.version`.
    Os,
    /// `process.pid`, `process.executable.name`.
    Process,
    /// `process.command_args` (also needs [`Detector::Process`]); off by default.
    ProcessCommandArgs,
    /// `container.id`.
    Container,
    /// `k8s.*`.
    Kubernetes,
}

impl Detector {
    /// Every detector.
    pub const ALL: [Detector; 8] = [
        Detector::ServiceInstanceId,
        Detector::Host,
        Detector::HostId,
        Detector::Os,
        Detector::Process,
        Detector::ProcessCommandArgs,
        Detector::Container,
        Detector::Kubernetes,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Which detectors run; see the [module documentation](self) for what each finds.
///
/// The default runs all of them except [`Detector::ProcessCommandArgs`].
///
/// ```
/// use otel_kit_core::config::Environment;
/// use otel_kit_core::resource::{Detector, FileSystemRoot, ResourceDetection};
///
/// let detected = ResourceDetection::new()
///     .disable(Detector::HostId)
///     .detect(&Environment::from_process(), &FileSystemRoot::host());
/// assert!(detected.iter().any(|kv| kv.key.as_str() == "process.pid"));
/// assert!(!detected.iter().any(|kv| kv.key.as_str() == "host.id"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResourceDetection {
    enabled: u16,
}

impl Default for ResourceDetection {
    fn default() -> Self {
        Self::none()
            .enable(Detector::ServiceInstanceId)
            .enable(Detector::Host)
            .enable(Detector::HostId)
            .enable(Detector::Os)
            .enable(Detector::Process)
            .enable(Detector::Container)
            .enable(Detector::Kubernetes)
    }
}

impl std::fmt::Debug for ResourceDetection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(Detector::ALL.iter().filter(|d| self.is_enabled(**d)))
            .finish()
    }
}

impl ResourceDetection {
    /// The default set: everything but [`Detector::ProcessCommandArgs`].
    pub fn new() -> Self {
        Self::default()
    }

    /// No detector at all.
    pub fn none() -> Self {
        Self { enabled: 0 }
    }

    /// Switches `detector` on.
    #[must_use]
    pub fn enable(self, detector: Detector) -> Self {
        self.set(detector, true)
    }

    /// Switches `detector` off.
    #[must_use]
    pub fn disable(self, detector: Detector) -> Self {
        self.set(detector, false)
    }

    /// Switches `detector` on or off.
    #[must_use]
    pub fn set(mut self, detector: Detector, on: bool) -> Self {
        if on {
            self.enabled |= detector.bit();
        } else {
            self.enabled &= !detector.bit();
        }
        self
    }

    /// Whether `detector` runs.
    pub fn is_enabled(&self, detector: Detector) -> bool {
        self.enabled & detector.bit() != 0
    }

    /// Runs the enabled detectors for the current process.
    pub fn detect(&self, env: &Environment, root: &FileSystemRoot) -> Vec<KeyValue> {
        self.detect_with(env, root, &ProcessInfo::current())
    }

    /// Runs the enabled detectors with the given process description (for tests
    /// and embedding). Each attribute appears at most once.
    pub fn detect_with(
        &self,
        env: &Environment,
        root: &FileSystemRoot,
        process: &ProcessInfo,
    ) -> Vec<KeyValue> {
        let mut out = Vec::new();
        if self.is_enabled(Detector::ServiceInstanceId) {
            out.push(KeyValue::new(SERVICE_INSTANCE_ID, service_instance_id()));
        }
        if self.is_enabled(Detector::Host) {
            host::detect_host(env, root, self.is_enabled(Detector::HostId), &mut out);
        }
        if self.is_enabled(Detector::Os) {
            host::detect_os(root, &mut out);
        }
        if self.is_enabled(Detector::Process) {
            process::detect(
                process,
                self.is_enabled(Detector::ProcessCommandArgs),
                &mut out,
            );
        }
        if self.is_enabled(Detector::Container) {
            container::detect(root, &mut out);
        }
        if self.is_enabled(Detector::Kubernetes) {
            kubernetes::detect(env, root, &mut out);
        }
        out
    }
}

/// Runs the default detectors ([`ResourceDetection::new`]) for the current process.
pub fn detect(env: &Environment, root: &FileSystemRoot) -> Vec<KeyValue> {
    ResourceDetection::new().detect(env, root)
}

#[cfg(test)]
mod tests {
    use super::fs::test_tree::TempTree;
    use super::*;
    use std::collections::BTreeMap;

    const ID: &str = "f00dbabe0123456789abcdef0123456789abcdef0123456789abcdef01234567";

    fn as_map(attributes: &[KeyValue]) -> BTreeMap<String, String> {
        let map: BTreeMap<String, String> = attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        assert_eq!(
            map.len(),
            attributes.len(),
            "duplicate keys: {attributes:?}"
        );
        map
    }

    fn pod_tree() -> TempTree {
        TempTree::new()
            .file("/proc/sys/kernel/hostname", "shop-7d9f8b6c5-x2x4z\n")
            .file("/etc/machine-id", "fdbf79e8af94cb7f9e8df36789187052\n")
            .file("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n")
            .file(
                "/proc/self/cgroup",
                &format!("0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-{ID}.scope\n"),
            )
            .file(
                "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
                "shop",
            )
    }

    fn pod_env() -> Environment {
        Environment::from_pairs([
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("HOSTNAME", "shop-7d9f8b6c5-x2x4z"),
            ("K8S_NODE_NAME", "node-a"),
        ])
    }

    #[test]
    fn everything_in_a_fake_pod() {
        let tree = pod_tree();
        let process = ProcessInfo::new(7)
            .with_executable_path("/app/shop")
            .with_args(["/app/shop", "--token=secret"]);
        let got = as_map(&ResourceDetection::new().detect_with(&pod_env(), &tree.root(), &process));
        let arch = host::host_arch(std::env::consts::ARCH);
        let os = host::os_type(std::env::consts::OS);
        let expected: BTreeMap<String, String> = [
            ("service.instance.id", service_instance_id()),
            ("host.name", "shop-7d9f8b6c5-x2x4z"),
            ("host.arch", arch),
            ("host.id", "fdbf79e8af94cb7f9e8df36789187052"),
            ("os.type", os),
            ("os.description", "Debian GNU/Linux 12 (bookworm)"),
            ("os.name", "Debian GNU/Linux"),
            ("os.version", "12"),
            ("process.pid", "7"),
            ("process.executable.name", "shop"),
            ("container.id", ID),
            ("k8s.namespace.name", "shop"),
            ("k8s.pod.name", "shop-7d9f8b6c5-x2x4z"),
            ("k8s.node.name", "node-a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn each_detector_can_be_switched_off() {
        let tree = pod_tree();
        let process = ProcessInfo::new(7)
            .with_executable_path("/app/shop")
            .with_args(["/app/shop"]);
        let cases: &[(Detector, &[&str])] = &[
            (Detector::ServiceInstanceId, &["service.instance.id"]),
            (Detector::Host, &["host.name", "host.arch", "host.id"]),
            (Detector::HostId, &["host.id"]),
            (
                Detector::Os,
                &["os.type", "os.description", "os.name", "os.version"],
            ),
            (
                Detector::Process,
                &["process.pid", "process.executable.name"],
            ),
            (Detector::Container, &["container.id"]),
            (
                Detector::Kubernetes,
                &["k8s.namespace.name", "k8s.pod.name", "k8s.node.name"],
            ),
        ];
        let all = as_map(&ResourceDetection::new().detect_with(&pod_env(), &tree.root(), &process));
        for (detector, gone) in cases {
            let detection = ResourceDetection::new().disable(*detector);
            assert!(!detection.is_enabled(*detector));
            let got = as_map(&detection.detect_with(&pod_env(), &tree.root(), &process));
            let mut expected = all.clone();
            for key in *gone {
                assert!(
                    expected.remove(*key).is_some(),
                    "{key} missing before disabling"
                );
            }
            assert_eq!(got, expected, "{detector:?} off");
        }
        assert!(
            ResourceDetection::none()
                .detect_with(&pod_env(), &tree.root(), &process)
                .is_empty()
        );
    }

    #[test]
    fn command_args_only_when_enabled() {
        let tree = TempTree::new();
        let process = ProcessInfo::new(1).with_args(["app", "--password=x"]);
        let env = Environment::default();
        assert!(!ResourceDetection::new().is_enabled(Detector::ProcessCommandArgs));
        let default = as_map(&ResourceDetection::new().detect_with(&env, &tree.root(), &process));
        assert!(!default.contains_key("process.command_args"));
        let opted_in = ResourceDetection::new().enable(Detector::ProcessCommandArgs);
        let got = as_map(&opted_in.detect_with(&env, &tree.root(), &process));
        assert_eq!(
            got.get("process.command_args").map(String::as_str),
            Some(r#"["app","--password=x"]"#)
        );
    }

    #[test]
    fn bare_machine_has_no_container_or_kubernetes() {
        let tree = TempTree::new()
            .file(
                "/proc/self/cgroup",
                "0::/user.slice/user-1000.slice/session-3.scope\n",
            )
            .file(
                "/proc/self/mountinfo",
                "22 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n",
            );
        let env = Environment::from_pairs([("HOSTNAME", "laptop")]);
        let got = as_map(&detect(&env, &tree.root()));
        assert!(
            !got.keys()
                .any(|k| k.starts_with("k8s.") || k.starts_with("container.")),
            "{got:?}"
        );
        assert_eq!(got.get("host.name").map(String::as_str), Some("laptop"));
        assert!(got.contains_key("process.pid"));
        assert!(got.contains_key("service.instance.id"));
    }

    #[test]
    fn real_machine_does_not_panic() {
        let got = detect(&Environment::from_process(), &FileSystemRoot::host());
        let map = as_map(&got);
        assert!(map.contains_key("host.arch"));
        assert!(map.contains_key("os.type"));
    }

    #[test]
    fn debug_lists_enabled_detectors() {
        let text = format!(
            "{:?}",
            ResourceDetection::none()
                .enable(Detector::Os)
                .enable(Detector::Container)
        );
        assert_eq!(text, "{Os, Container}");
    }
}
