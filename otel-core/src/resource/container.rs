//! `container.id` from `/proc/self/cgroup`, falling back to `/proc/self/mountinfo`.
//!
//! Docker, containerd, CRI-O and Podman all name containers with 64 hex
//! digits; only such ids are accepted.
//!
//! 1. `/proc/self/cgroup` (cgroup v1 lines `id:controllers:path`, and the
//!    cgroup v2 line `0::path` when the container shares the host's cgroup
//!    namespace). The path is searched from its last segment backwards for a
//!    segment that is an id, optionally with a runtime prefix and a unit suffix:
//!    `/docker/<id>`, `/kubepods/burstable/pod…/<id>`,
//!    `/system.slice/docker-<id>.scope`, `…/cri-containerd-<id>.scope`,
//!    `…/cri-containerd:<id>`, `…/crio-<id>.scope`,
//!    `/machine.slice/libpod-<id>.scope/container`.
//! 2. With cgroup v2 and a private cgroup namespace the path is just `/`; then
//!    the mounts of `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` in
//!    `/proc/self/mountinfo` are used: Docker mounts them from
//!    `…/docker/containers/<id>/…`, Podman and CRI-O from
//!    `…/overlay-containers/<id>/userdata/…`.
//!
//! Not reported: containerd's CRI plugin mounts these files from
//! `…/io.containerd.grpc.v1.cri/sandboxes/<id>/…`, the id of the **pod
//! sandbox**, shared by every container of the pod; reporting it as
//! `container.id` would be wrong, so under containerd with a private cgroup
//! namespace no id is detected. (Under CRI-O in Kubernetes the
//! `overlay-containers` id can likewise be the pod's infrastructure container;
//! there is nothing in the mount table to tell it apart.)

use super::fs::FileSystemRoot;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::resource::CONTAINER_ID;

const CGROUP_FILE: &str = "/proc/self/cgroup";
const MOUNTINFO_FILE: &str = "/proc/self/mountinfo";
const CONTAINER_ID_LEN: usize = 64;
/// Mount points whose source lies in the container's own directory.
const PER_CONTAINER_MOUNTS: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];
/// Directory names directly above a container's own directory.
const CONTAINER_DIRS: [&str; 2] = ["containers", "overlay-containers"];

/// `container.id`, when this process runs in a container.
pub(crate) fn detect(root: &FileSystemRoot, out: &mut Vec<KeyValue>) {
    if let Some(id) = container_id(root) {
        out.push(KeyValue::new(CONTAINER_ID, id));
    }
}

/// The container id from the fake or real `/proc/self/{cgroup,mountinfo}`.
pub(crate) fn container_id(root: &FileSystemRoot) -> Option<String> {
    root.read_to_string(CGROUP_FILE)
        .and_then(|text| from_cgroup(&text).map(str::to_owned))
        .or_else(|| {
            root.read_to_string(MOUNTINFO_FILE)
                .and_then(|text| from_mountinfo(&text).map(str::to_owned))
        })
}

/// The first id found in a `/proc/self/cgroup` text.
fn from_cgroup(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        // hierarchy-id:controllers:path; the path may itself contain ':'.
        let path = line.splitn(3, ':').nth(2)?;
        path.trim().rsplit('/').find_map(id_in_cgroup_segment)
    })
}

/// `<id>`, `<runtime>-<id>`, `<runtime>:<id>`, each optionally followed by a
/// `.scope`-like suffix.
fn id_in_cgroup_segment(segment: &str) -> Option<&str> {
    let last = segment.rsplit(['-', ':']).next()?;
    let candidate = last.split_once('.').map_or(last, |(stem, _)| stem);
    is_container_id(candidate).then_some(candidate)
}

/// The first id found in the per-container mounts of a `/proc/self/mountinfo` text.
fn from_mountinfo(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        // id parent major:minor root mount-point options… - fstype source super-options
        let mut fields = line.split_whitespace();
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        if !PER_CONTAINER_MOUNTS.contains(&mount_point) {
            return None;
        }
        let segments: Vec<&str> = root.split('/').collect();
        segments.windows(2).find_map(|pair| {
            (CONTAINER_DIRS.contains(&pair[0]) && is_container_id(pair[1])).then_some(pair[1])
        })
    })
}

fn is_container_id(candidate: &str) -> bool {
    candidate.len() == CONTAINER_ID_LEN && candidate.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::super::fs::test_tree::TempTree;
    use super::*;

    const ID: &str = "a5e1c8a3b9f84d2e8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1";
    const OTHER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn cgroup_lines() {
        let cases: Vec<(String, Option<&str>)> = vec![
            // cgroup v1, Docker with the cgroupfs driver.
            (
                format!(
                    "12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
                ),
                Some(ID),
            ),
            // cgroup v1, Docker with the systemd driver.
            (
                format!("4:pids:/system.slice/docker-{ID}.scope\n"),
                Some(ID),
            ),
            // cgroup v1, Kubernetes with Docker/containerd, cgroupfs driver.
            (
                format!(
                    "9:cpuset:/kubepods/burstable/pod3d6fe1e9-1b4f-4c5a-9d52-5f6e7a8b9c0d/{ID}\n"
                ),
                Some(ID),
            ),
            // Kubernetes + containerd, systemd driver.
            (
                format!(
                    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3d6fe1e9_1b4f.slice/cri-containerd-{ID}.scope\n"
                ),
                Some(ID),
            ),
            // containerd with the colon form.
            (
                format!("0::/kubepods/besteffort/pod1/cri-containerd:{ID}\n"),
                Some(ID),
            ),
            // CRI-O.
            (
                format!("0::/kubepods.slice/kubepods-burstable.slice/crio-{ID}.scope\n"),
                Some(ID),
            ),
            // Podman (cgroup v2, host cgroup namespace): the id is not the last segment.
            (
                format!("0::/machine.slice/libpod-{ID}.scope/container\n"),
                Some(ID),
            ),
            // Docker in Docker: the innermost container wins.
            (format!("1:cpu:/docker/{OTHER}/docker/{ID}\n"), Some(ID)),
            // cgroup v2 with a private namespace: nothing here.
            ("0::/\n".to_owned(), None),
            // Not in a container.
            (
                "0::/user.slice/user-1000.slice/session-2.scope\n".to_owned(),
                None,
            ),
            ("3:cpuset:/system.slice/sshd.service\n".to_owned(), None),
            // Hex, but too short or too long.
            (format!("0::/docker/{}\n", &ID[..32]), None),
            (format!("0::/docker/{ID}0\n"), None),
            // Garbage.
            ("no colons at all\n\n:::\n".to_owned(), None),
        ];
        for (text, expected) in cases {
            assert_eq!(from_cgroup(&text), expected, "cgroup {text:?}");
        }
    }

    #[test]
    fn mountinfo_lines() {
        let docker = format!(
            "1573 1471 0:286 / / rw,relatime master:533 - overlay overlay rw,lowerdir=/l\n\
             1579 1573 0:290 / /dev rw,nosuid - tmpfs tmpfs rw\n\
             2301 1573 254:1 /docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             2302 1573 254:1 /docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        let docker_root_fs = format!(
            "2302 1573 254:1 /var/lib/docker/containers/{ID}/hosts /etc/hosts rw - ext4 /dev/sda1 rw\n"
        );
        let podman = format!(
            "900 800 0:40 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
        );
        let crio = format!(
            "900 800 0:25 /containers/storage/overlay-containers/{ID}/userdata/resolv.conf /etc/resolv.conf rw - tmpfs tmpfs rw\n"
        );
        let containerd_sandbox = format!(
            "1200 1100 253:1 /var/lib/kubelet/pods/3d6fe1e9-1b4f-4c5a-9d52-5f6e7a8b9c0d/etc-hosts /etc/hosts rw - ext4 /dev/root rw\n\
             1201 1100 253:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{OTHER}/hostname /etc/hostname rw - ext4 /dev/root rw\n"
        );
        // A user volume whose path contains a container directory: not a per-container mount.
        let volume = format!(
            "700 600 254:1 /docker/containers/{OTHER}/data /srv/data rw - ext4 /dev/vda1 rw\n"
        );
        let cases = [
            (docker, Some(ID)),
            (docker_root_fs, Some(ID)),
            (podman, Some(ID)),
            (crio, Some(ID)),
            (containerd_sandbox, None),
            (volume, None),
            ("1 2 3\n\n".to_owned(), None),
        ];
        for (text, expected) in cases {
            assert_eq!(from_mountinfo(&text), expected, "mountinfo {text:?}");
        }
    }

    #[test]
    fn detects_from_fake_proc() {
        let v1 = TempTree::new().file(
            "/proc/self/cgroup",
            &format!("12:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"),
        );
        let v2_docker = TempTree::new()
            .file("/proc/self/cgroup", "0::/\n")
            .file(
                "/proc/self/mountinfo",
                &format!(
                    "2302 1573 254:1 /docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
                ),
            );
        let v2_crio = TempTree::new()
            .file("/proc/self/cgroup", "0::/\n")
            .file(
                "/proc/self/mountinfo",
                &format!(
                    "900 800 0:25 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
                ),
            );
        let v2_host_namespace_containerd = TempTree::new().file(
            "/proc/self/cgroup",
            &format!(
                "0::/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:{ID}\n"
            ),
        );
        let bare_metal = TempTree::new()
            .file(
                "/proc/self/cgroup",
                "0::/user.slice/user-1000.slice/session-3.scope\n",
            )
            .file(
                "/proc/self/mountinfo",
                "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n",
            );
        let no_proc = TempTree::new();
        let cases = [
            (&v1, Some(ID)),
            (&v2_docker, Some(ID)),
            (&v2_crio, Some(ID)),
            (&v2_host_namespace_containerd, Some(ID)),
            (&bare_metal, None),
            (&no_proc, None),
        ];
        for (i, (tree, expected)) in cases.into_iter().enumerate() {
            let mut out = Vec::new();
            detect(&tree.root(), &mut out);
            let expected: Vec<KeyValue> = expected
                .map(|id| KeyValue::new(CONTAINER_ID, id))
                .into_iter()
                .collect();
            assert_eq!(out, expected, "case {i}");
        }
    }
}
