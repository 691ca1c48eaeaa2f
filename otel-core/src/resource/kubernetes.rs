//! `k8s.*` attributes of the pod this process runs in.
//!
//! A process is taken to run in a pod when `KUBERNETES_SERVICE_HOST` is set
//! (the kubelet sets it in every container) or the service-account directory
//! `/var/run/secrets/kubernetes.io/serviceaccount` exists. Outside a pod nothing
//! is detected, whatever the variables below say.
//!
//! Kubernetes tells a container little about itself unless the pod spec passes
//! it through the downward API, so these variables are read, the first set one
//! winning:
//!
//! | attribute | variables (downward API `fieldRef`) | fallback |
//! |---|---|---|
//! | `k8s.namespace.name` | `K8S_NAMESPACE_NAME`, `POD_NAMESPACE` (`metadata.namespace`) | the service-account `namespace` file |
//! | `k8s.pod.name` | `K8S_POD_NAME`, `POD_NAME` (`metadata.name`) | `HOSTNAME` (the pod name unless the pod sets `spec.hostname`) |
//! | `k8s.pod.uid` | `K8S_POD_UID`, `POD_UID` (`metadata.uid`) | – |
//! | `k8s.node.name` | `K8S_NODE_NAME`, `NODE_NAME` (`spec.nodeName`) | – |
//! | `k8s.container.name` | `K8S_CONTAINER_NAME` (set by hand) | – |
//! | `k8s.deployment.name` | `K8S_DEPLOYMENT_NAME` (set by hand; no `fieldRef` exists) | – |
//!
//! ```yaml
//! env:
//!   - name: K8S_POD_NAME
//!     valueFrom: { fieldRef: { fieldPath: metadata.name } }
//!   - name: K8S_NAMESPACE_NAME
//!     valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
//!   - name: K8S_POD_UID
//!     valueFrom: { fieldRef: { fieldPath: metadata.uid } }
//!   - name: K8S_NODE_NAME
//!     valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
//! ```

use super::fs::FileSystemRoot;
use crate::config::Environment;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::resource::{
    K8S_CONTAINER_NAME, K8S_DEPLOYMENT_NAME, K8S_NAMESPACE_NAME, K8S_NODE_NAME, K8S_POD_NAME,
    K8S_POD_UID,
};

/// The directories of the mounted service-account token (`/var/run` is
/// usually a link to `/run`; both are checked).
const SERVICE_ACCOUNT_DIRS: [&str; 2] = [
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "/run/secrets/kubernetes.io/serviceaccount",
];
/// Set by the kubelet in every container.
const SERVICE_HOST_VAR: &str = "KUBERNETES_SERVICE_HOST";

/// Attribute, downward-API variables in order of preference.
const FROM_ENV: [(&str, &[&str]); 6] = [
    (K8S_NAMESPACE_NAME, &["K8S_NAMESPACE_NAME", "POD_NAMESPACE"]),
    (K8S_POD_NAME, &["K8S_POD_NAME", "POD_NAME", "HOSTNAME"]),
    (K8S_POD_UID, &["K8S_POD_UID", "POD_UID"]),
    (K8S_NODE_NAME, &["K8S_NODE_NAME", "NODE_NAME"]),
    (K8S_CONTAINER_NAME, &["K8S_CONTAINER_NAME"]),
    (K8S_DEPLOYMENT_NAME, &["K8S_DEPLOYMENT_NAME"]),
];

/// Whether this process runs in a Kubernetes pod.
pub fn in_kubernetes(env: &Environment, root: &FileSystemRoot) -> bool {
    env.get(SERVICE_HOST_VAR).is_some() || SERVICE_ACCOUNT_DIRS.iter().any(|d| root.is_dir(d))
}

/// The `k8s.*` attributes, when in a pod.
pub(crate) fn detect(env: &Environment, root: &FileSystemRoot, out: &mut Vec<KeyValue>) {
    if !in_kubernetes(env, root) {
        return;
    }
    for (attribute, vars) in FROM_ENV {
        let value = vars
            .iter()
            .find_map(|var| env.get(var).map(str::to_owned))
            .or_else(|| {
                if attribute == K8S_NAMESPACE_NAME {
                    namespace_file(root)
                } else {
                    None
                }
            });
        if let Some(value) = value {
            out.push(KeyValue::new(attribute, value));
        }
    }
}

fn namespace_file(root: &FileSystemRoot) -> Option<String> {
    SERVICE_ACCOUNT_DIRS
        .iter()
        .find_map(|dir| root.read_first_line(&format!("{dir}/namespace")))
}

#[cfg(test)]
mod tests {
    use super::super::fs::test_tree::TempTree;
    use super::*;

    const SA_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    fn run(env: &[(&str, &str)], tree: &TempTree) -> Vec<(String, String)> {
        let env = Environment::from_pairs(env.iter().copied());
        let mut out = Vec::new();
        detect(&env, &tree.root(), &mut out);
        out.into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
            .collect()
    }

    fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn downward_api_variables() {
        let tree = TempTree::new().file(SA_NAMESPACE, "from-file\n");
        let got = run(
            &[
                ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
                ("K8S_POD_NAME", "shop-7d9f8b6c5-x2x4z"),
                ("K8S_NAMESPACE_NAME", "prod"),
                ("K8S_POD_UID", "3d6fe1e9-1b4f-4c5a-9d52-5f6e7a8b9c0d"),
                ("K8S_NODE_NAME", "node-a"),
                ("K8S_CONTAINER_NAME", "app"),
                ("K8S_DEPLOYMENT_NAME", "shop"),
                ("HOSTNAME", "not-used"),
                ("POD_NAME", "not-used"),
            ],
            &tree,
        );
        assert_eq!(
            got,
            expect(&[
                (K8S_NAMESPACE_NAME, "prod"),
                (K8S_POD_NAME, "shop-7d9f8b6c5-x2x4z"),
                (K8S_POD_UID, "3d6fe1e9-1b4f-4c5a-9d52-5f6e7a8b9c0d"),
                (K8S_NODE_NAME, "node-a"),
                (K8S_CONTAINER_NAME, "app"),
                (K8S_DEPLOYMENT_NAME, "shop"),
            ])
        );
    }

    #[test]
    fn short_variable_names() {
        let got = run(
            &[
                ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
                ("POD_NAME", "p"),
                ("POD_NAMESPACE", "ns"),
                ("POD_UID", "u"),
                ("NODE_NAME", "n"),
            ],
            &TempTree::new(),
        );
        assert_eq!(
            got,
            expect(&[
                (K8S_NAMESPACE_NAME, "ns"),
                (K8S_POD_NAME, "p"),
                (K8S_POD_UID, "u"),
                (K8S_NODE_NAME, "n"),
            ])
        );
    }

    #[test]
    fn only_the_service_account_file() {
        // No KUBERNETES_SERVICE_HOST: the mounted token directory alone says "in a pod".
        let tree = TempTree::new().file(SA_NAMESPACE, "payments\n");
        assert_eq!(run(&[], &tree), expect(&[(K8S_NAMESPACE_NAME, "payments")]));
        assert_eq!(
            run(&[("HOSTNAME", "pay-0")], &tree),
            expect(&[(K8S_NAMESPACE_NAME, "payments"), (K8S_POD_NAME, "pay-0"),])
        );
        let run_dir = TempTree::new().file(
            "/run/secrets/kubernetes.io/serviceaccount/namespace",
            "other",
        );
        assert_eq!(run(&[], &run_dir), expect(&[(K8S_NAMESPACE_NAME, "other")]));
    }

    #[test]
    fn not_in_kubernetes() {
        let tree = TempTree::new().file("/etc/hostname", "laptop");
        let got = run(
            &[
                ("HOSTNAME", "laptop"),
                ("K8S_POD_NAME", "stray"),
                ("NODE_NAME", "x"),
            ],
            &tree,
        );
        assert!(got.is_empty(), "{got:?}");
        assert!(!in_kubernetes(&Environment::default(), &tree.root()));
    }

    #[test]
    fn service_host_without_anything_else() {
        let got = run(
            &[("KUBERNETES_SERVICE_HOST", "10.96.0.1")],
            &TempTree::new(),
        );
        assert!(got.is_empty(), "{got:?}");
    }
}
