//! The deployment kit under `deploy/` (collector configuration, Kubernetes
//! manifests with their Istio and Linkerd variants, Envoy front proxy) and
//! `docs/mesh.md`, checked offline:
//!
//! - every YAML file parses and every kustomization builds;
//! - every Kubernetes object validates against the Kubernetes JSON schemas
//!   (the `kubernetes-validate` package, strict, two API versions); custom
//!   resources it has no schema for (Istio `Telemetry`) are checked
//!   structurally here instead, and the test says so;
//! - every `OTEL_*` name in the kit is one otel-kit-core reads
//!   (`otel_kit_core::config::KNOWN_VARIABLES`), and each service's complete
//!   environment, as Kubernetes would assemble it, sets otel-kit-core up with no
//!   diagnostic;
//! - the collector's pipelines and Envoy's routes reference components and
//!   clusters that exist.
//!
//! YAML parsing, the kustomize subset and schema validation run in
//! `tests/python/deploy_kit.py` under `OTEL_TEST_PYTHON` (the test venv that
//! `scripts/test` builds from `tests/python/requirements.txt`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use otel_kit_core::config::{Environment, ExporterKind, PropagatorKind, is_known_variable};
use serde_json::Value;

/// Kubernetes versions the manifests must be valid for: an older one still
/// widely run and the newest the pinned kubernetes-validate knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.31", "1.37"];

/// Custom resources the schemas cannot know, checked structurally instead.
const CUSTOM_RESOURCES: [(&str, &str); 1] = [("telemetry.istio.io/v1", "Telemetry")];

/// The image the shop Deployments run (`demo <service>`).
const DEMO_IMAGE: &str = "otel-rs/shop-demo:dev";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The test venv's interpreter: `OTEL_TEST_PYTHON`, else `<repo>/.venv`.
///
/// # Panics
/// When neither exists: the kit must be checked, never skipped.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("OTEL_TEST_PYTHON").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.is_file(),
        "OTEL_TEST_PYTHON is unset and {} does not exist: run the tests through scripts/test \
         (it builds the venv from tests/python/requirements.txt)",
        venv.display()
    );
    venv
}

/// Runs deploy_kit.py over the tree at `root`.
fn read_kit(root: &Path) -> Value {
    let script = repo_root().join("tests/python/deploy_kit.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(root)
        .args(KUBERNETES_VERSIONS)
        .output()
        .expect("run deploy_kit.py");
    assert!(
        out.status.success(),
        "deploy_kit.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("deploy_kit.py prints JSON")
}

/// The repository's kit, read once for all tests of this file.
fn kit() -> &'static Value {
    static KIT: OnceLock<Value> = OnceLock::new();
    KIT.get_or_init(|| read_kit(&repo_root()))
}

fn files() -> &'static [Value] {
    kit()["files"].as_array().expect("files")
}

/// The documents of one file of the kit.
fn documents(path: &str) -> &'static [Value] {
    files()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in the kit"))["documents"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} did not parse"))
}

/// The objects of the kustomization in `dir` (e.g. `deploy/k8s/istio`).
fn build(dir: &str) -> Vec<&'static Value> {
    let b = kit()["builds"]
        .as_array()
        .expect("builds")
        .iter()
        .find(|b| b["kustomization"] == dir)
        .unwrap_or_else(|| panic!("no kustomization {dir}"));
    b["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{dir} did not build: {}", b["error"]))
        .iter()
        .map(|o| &o["object"])
        .collect()
}

fn find<'a>(objects: &[&'a Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .copied()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_yaml_file_parses() {
    let files = files();
    let broken: Vec<_> = files
        .iter()
        .filter(|f| f.get("error").is_some())
        .map(|f| format!("{}: {}", f["path"], f["error"]))
        .collect();
    assert!(broken.is_empty(), "YAML that does not parse: {broken:#?}");
    for must in [
        "deploy/collector/otel-collector.yaml",
        "deploy/envoy/envoy.yaml",
        "deploy/k8s/base/gateway.yaml",
        "deploy/k8s/istio/telemetry.yaml",
        "deploy/k8s/linkerd/kustomization.yaml",
    ] {
        assert!(
            files.iter().any(|f| f["path"] == must),
            "{must} missing from the kit"
        );
    }
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let builds = kit()["builds"].as_array().expect("builds");
    assert!(builds.len() >= 5, "kustomizations found: {}", builds.len());
    let mut problems = Vec::new();
    let mut validated = 0;
    let mut structural = BTreeSet::new();
    for b in builds {
        let dir = b["kustomization"].as_str().unwrap_or_default();
        let Some(objects) = b["objects"].as_array() else {
            problems.push(format!("{dir}: does not build: {}", b["error"]));
            continue;
        };
        for o in objects {
            let obj = &o["object"];
            let id = format!(
                "{dir}: {} {}/{} (from {})",
                obj["apiVersion"], obj["kind"], obj["metadata"]["name"], o["origin"]
            );
            for version in KUBERNETES_VERSIONS {
                let r = &o["validation"][version];
                match r["status"].as_str() {
                    Some("valid") => validated += 1,
                    Some("no-schema")
                        if CUSTOM_RESOURCES.iter().any(|(api, kind)| {
                            obj["apiVersion"] == *api && obj["kind"] == *kind
                        }) =>
                    {
                        check_custom_resource(obj, &mut problems, &id);
                        structural.insert(id.clone());
                    }
                    _ => problems.push(format!("{id} on Kubernetes {version}: {r}")),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(validated > 40, "only {validated} schema validations ran");
    assert!(
        !structural.is_empty(),
        "the Istio Telemetry resource was not checked"
    );
    eprintln!(
        "deploy_kit: {validated} object validations against the Kubernetes schemas; \
         checked structurally (no schema offline for custom resources): {structural:#?}"
    );
}

/// The structure of the custom resources the schemas do not cover.
fn check_custom_resource(obj: &Value, problems: &mut Vec<String>, id: &str) {
    let mut fail = |m: String| problems.push(format!("{id}: {m}"));
    if obj["kind"] == "Telemetry" {
        // Provider names must be extension providers of the mesh config.
        let mesh = &documents("deploy/k8s/istio/meshconfig-values.yaml")[0]["meshConfig"];
        let providers: Vec<&str> = mesh["extensionProviders"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        let tracing = obj["spec"]["tracing"].as_array();
        let Some(tracing) = tracing.filter(|t| !t.is_empty()) else {
            return fail("spec.tracing is not a non-empty list".into());
        };
        for t in tracing {
            let Some(used) = t["providers"].as_array() else {
                fail("tracing entry without providers".into());
                continue;
            };
            for p in used {
                let name = p["name"].as_str().unwrap_or_default();
                if !providers.contains(&name) {
                    fail(format!(
                        "provider {name:?} is not an extensionProvider of meshconfig-values.yaml ({providers:?})"
                    ));
                }
            }
            match t["randomSamplingPercentage"].as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => {}
                other => fail(format!(
                    "randomSamplingPercentage {other:?} not in [0, 100]"
                )),
            }
            let known = [
                "providers",
                "randomSamplingPercentage",
                "customTags",
                "disableSpanReporting",
                "match",
                "useRequestIdForTraceSampling",
            ];
            for key in t.as_object().map(|m| m.keys()).into_iter().flatten() {
                if !known.contains(&key.as_str()) {
                    fail(format!("unknown tracing field {key:?}"));
                }
            }
        }
        if obj["metadata"]["namespace"].as_str().is_none() {
            fail("Telemetry without a namespace".into());
        }
    }
}

#[test]
fn every_manifest_object_is_part_of_a_kustomization() {
    let built: BTreeSet<(String, String, String)> = kit()["builds"]
        .as_array()
        .expect("builds")
        .iter()
        .flat_map(|b| b["objects"].as_array().into_iter().flatten())
        .map(|o| {
            let obj = &o["object"];
            (
                o["origin"].as_str().unwrap_or_default().to_owned(),
                obj["kind"].as_str().unwrap_or_default().to_owned(),
                obj["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let mut orphans = Vec::new();
    for f in files() {
        let path = f["path"].as_str().unwrap_or_default();
        if !path.starts_with("deploy/k8s/") {
            continue;
        }
        for doc in f["documents"].as_array().into_iter().flatten() {
            let (Some(kind), Some(_)) = (doc["kind"].as_str(), doc["apiVersion"].as_str()) else {
                continue; // not a Kubernetes object (Helm values)
            };
            if kind == "Kustomization" {
                continue;
            }
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            if !built.contains(&(path.to_owned(), kind.to_owned(), name.to_owned())) {
                orphans.push(format!("{path}: {kind}/{name}"));
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "objects no kustomization applies (so never validated as built): {orphans:#?}"
    );
}

/// Every `OTEL_…` token in `text` that otel-kit-core does not read.
fn unknown_otel_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("OTEL_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..len];
        let glued = before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        // `OTEL_*` speaks of the family, not of a variable.
        let wildcard = name.ends_with('_') && tail[len..].starts_with('*');
        if !glued && !wildcard && !is_known_variable(name) {
            out.insert(name.to_owned());
        }
        rest = &tail[len..];
    }
    out
}

#[test]
fn the_name_scan_catches_misspelt_variables() {
    let text = "OTEL_TRACE_SAMPLER: x\n- name: OTEL_SERVICE_NAME\n${OTEL_PROPAGATOR} OTEL_* OTEL_";
    assert_eq!(
        unknown_otel_names(text),
        BTreeSet::from([
            "OTEL_".to_owned(),
            "OTEL_PROPAGATOR".to_owned(),
            "OTEL_TRACE_SAMPLER".to_owned()
        ])
    );
    assert!(unknown_otel_names("OTEL_TRACES_SAMPLER_ARG OTEL_EXPORTER_OTLP_ENDPOINT").is_empty());
}

#[test]
fn otel_variables_in_the_kit_are_ones_otel_core_reads() {
    let root = repo_root();
    let mut texts: Vec<PathBuf> = files()
        .iter()
        .map(|f| root.join(f["path"].as_str().unwrap_or_default()))
        .collect();
    texts.push(root.join("deploy/README.md"));
    texts.push(root.join("docs/mesh.md"));
    let mut unknown = BTreeMap::new();
    let mut named = 0;
    for path in &texts {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        named += text.matches("OTEL_").count();
        let bad = unknown_otel_names(&text);
        if !bad.is_empty() {
            unknown.insert(path.display().to_string(), bad);
        }
    }
    assert!(named > 20, "only {named} OTEL_ names in the kit");
    assert!(
        unknown.is_empty(),
        "OTEL_* names otel-kit-core never reads (otel_kit_core::config::KNOWN_VARIABLES): {unknown:#?}"
    );
}

/// Sample values the downward API would give.
fn field_ref_value(path: &str) -> String {
    match path {
        "metadata.name" => "gateway-7d4b9c-x2x9z".into(),
        "metadata.namespace" => "shop".into(),
        "spec.nodeName" => "node-1".into(),
        "metadata.uid" => "0f0e0d0c-0b0a-0908-0706-050403020100".into(),
        other => panic!("fieldRef {other} has no sample value"),
    }
}

/// A container's environment as the kubelet assembles it: `envFrom`
/// ConfigMaps in order, then `env` with `$(VAR)` expanded from what is
/// defined before it.
fn container_environment(
    objects: &[&Value],
    namespace: &str,
    container: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .ok_or("envFrom without configMapRef")?;
        let cm = objects
            .iter()
            .find(|o| {
                o["kind"] == "ConfigMap"
                    && o["metadata"]["name"] == name
                    && o["metadata"]["namespace"] == namespace
            })
            .ok_or_else(|| format!("envFrom ConfigMap {name} is not in the build"))?;
        for (k, v) in cm["data"].as_object().into_iter().flatten() {
            env.insert(
                k.clone(),
                v.as_str().ok_or("non-string ConfigMap value")?.to_owned(),
            );
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().ok_or("env without name")?.to_owned();
        let value = if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_ref_value(path)
        } else {
            let raw = var["value"].as_str().unwrap_or_default();
            let mut out = String::new();
            let mut rest = raw;
            while let Some(i) = rest.find("$(") {
                out.push_str(&rest[..i]);
                let end = rest[i..].find(')').ok_or("unclosed $(")? + i;
                let referenced = &rest[i + 2..end];
                // Kubernetes leaves an undefined reference as literal text.
                let v = env.get(referenced).ok_or_else(|| {
                    format!("{name} references $({referenced}), not defined before it")
                })?;
                out.push_str(v);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            out
        };
        env.insert(name, value);
    }
    Ok(env)
}

/// The environment of every container running the demo image, per Deployment.
fn service_environments(dir: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let objects = build(dir);
    let mut out = BTreeMap::new();
    for d in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let ns = d["metadata"]["namespace"].as_str().unwrap_or_default();
        for c in d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if c["image"] != DEMO_IMAGE {
                continue;
            }
            let env = container_environment(&objects, ns, c)
                .unwrap_or_else(|e| panic!("{dir}: Deployment {}: {e}", d["metadata"]["name"]));
            out.insert(
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                env,
            );
        }
    }
    out
}

#[test]
fn every_service_environment_sets_otel_core_up_without_diagnostics() {
    for dir in ["deploy/k8s/base", "deploy/k8s/istio", "deploy/k8s/linkerd"] {
        let services = service_environments(dir);
        let names: Vec<&str> = services.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["consumer", "gateway", "inventory", "orders", "payment"],
            "{dir}: the five shop services"
        );
        for (service, env) in &services {
            let unknown: Vec<_> = env
                .keys()
                .filter(|k| k.starts_with("OTEL_") && !is_known_variable(k))
                .collect();
            assert!(unknown.is_empty(), "{dir} {service}: unknown {unknown:?}");
            let telemetry = otel_kit_core::Telemetry::builder()
                .environment(Environment::from_pairs(env.clone()))
                // The configured OTLP endpoint is parsed but not dialled.
                .traces_exporter(&[ExporterKind::Console])
                .metrics_exporter(&[])
                .logs_exporter(&[])
                .install_global(false)
                .strict(true)
                .install()
                .unwrap_or_else(|e| panic!("{dir} {service}: {e}"));
            let report = telemetry.report();
            assert!(
                report.diagnostics().is_empty(),
                "{dir} {service}: {}",
                report.diagnostics()
            );
            let config = report.config();
            assert_eq!(
                config.service_name.as_deref(),
                Some(format!("shop-{service}").as_str())
            );
            assert!(config.otlp_traces.endpoint_configured, "{dir} {service}");
            assert_eq!(
                config.sampler.as_deref(),
                Some("parentbased_traceidratio"),
                "{dir} {service}: parent-based, so the mesh's decision wins"
            );
            let want = if dir.ends_with("istio") {
                vec![
                    PropagatorKind::TraceContext,
                    PropagatorKind::Baggage,
                    PropagatorKind::B3Multi,
                ]
            } else {
                vec![PropagatorKind::TraceContext, PropagatorKind::Baggage]
            };
            assert_eq!(config.propagators, want, "{dir} {service}");
            let resource = report.resource();
            for (key, value) in [
                ("k8s.pod.name", "gateway-7d4b9c-x2x9z"),
                ("k8s.namespace.name", "shop"),
                ("k8s.node.name", "node-1"),
            ] {
                let got = resource
                    .get(&otel_kit_core::opentelemetry::Key::from_static_str(key))
                    .map(|v| v.as_str().into_owned());
                assert_eq!(got.as_deref(), Some(value), "{dir} {service}: {key}");
            }
        }
    }
}

#[test]
fn probes_use_the_filtered_health_route_or_the_port() {
    let objects = build("deploy/k8s/base");
    let gateway = find(&objects, "Deployment", "gateway").expect("gateway");
    let c = &gateway["spec"]["template"]["spec"]["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = c[probe]["httpGet"]["path"].as_str().unwrap_or_default();
        // The server layer's filter not(health_check()) leaves these untraced.
        assert!(
            otel_http_health_paths().contains(&path),
            "gateway {probe} on {path:?}, a path the health filter does not match"
        );
    }
    for d in objects.iter().filter(|o| o["kind"] == "Deployment") {
        for c in d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let limits = &c["resources"]["limits"];
            let requests = &c["resources"]["requests"];
            assert!(
                limits["memory"].is_string() && requests["cpu"].is_string(),
                "{}: requests and limits",
                d["metadata"]["name"]
            );
        }
    }
}

/// The paths `otel_kit_http::filter::health_check` matches (kept in step with
/// `otel_kit_http::filter::HEALTH_CHECK_PATHS`; otel-tests does not depend on
/// otel-kit-http).
fn otel_http_health_paths() -> [&'static str; 7] {
    [
        "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/ping",
    ]
}

/// Component ids of one collector pipeline section.
fn ids(section: &Value) -> BTreeSet<String> {
    section
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn collector_pipelines_reference_defined_components() {
    let config = &documents("deploy/collector/otel-collector.yaml")[0];
    let receivers = ids(&config["receivers"]);
    let processors = ids(&config["processors"]);
    let exporters = ids(&config["exporters"]);
    let connectors = ids(&config["connectors"]);
    let extensions = ids(&config["extensions"]);
    let pipelines = config["service"]["pipelines"]
        .as_object()
        .expect("service.pipelines");
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    let (mut connector_out, mut connector_in) = (BTreeSet::new(), BTreeSet::new());
    for (name, p) in pipelines {
        let signal = name.split('/').next().unwrap_or_default();
        if !["traces", "metrics", "logs"].contains(&signal) {
            problems.push(format!("pipeline {name}: unknown signal"));
        }
        for r in strings(&p["receivers"]) {
            used.insert(r.to_owned());
            if connectors.contains(r) {
                connector_in.insert(r.to_owned());
            } else if !receivers.contains(r) {
                problems.push(format!("pipeline {name}: receiver {r} not defined"));
            }
        }
        let procs = strings(&p["processors"]);
        for q in &procs {
            used.insert(q.to_string());
            if !processors.contains(*q) {
                problems.push(format!("pipeline {name}: processor {q} not defined"));
            }
        }
        if procs.first() != Some(&"memory_limiter") {
            problems.push(format!("pipeline {name}: memory_limiter must come first"));
        }
        if procs.contains(&"batch") && procs.last() != Some(&"batch") {
            problems.push(format!("pipeline {name}: batch must come last"));
        }
        let exps = strings(&p["exporters"]);
        if exps.is_empty() || strings(&p["receivers"]).is_empty() {
            problems.push(format!("pipeline {name}: needs receivers and exporters"));
        }
        for e in exps {
            used.insert(e.to_owned());
            if connectors.contains(e) {
                connector_out.insert(e.to_owned());
            } else if !exporters.contains(e) {
                problems.push(format!("pipeline {name}: exporter {e} not defined"));
            }
        }
    }
    for c in &connectors {
        if !connector_in.contains(c) || !connector_out.contains(c) {
            problems.push(format!(
                "connector {c} must be an exporter of one pipeline and a receiver of another"
            ));
        }
    }
    for defined in receivers
        .iter()
        .chain(&processors)
        .chain(&exporters)
        .chain(&connectors)
    {
        if !used.contains(defined) {
            problems.push(format!("{defined} is defined but no pipeline uses it"));
        }
    }
    for e in strings(&config["service"]["extensions"]) {
        if !extensions.contains(e) {
            problems.push(format!("extension {e} not defined"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // The tail-sampling policies the kit promises.
    let policies = config["processors"]["tail_sampling"]["policies"]
        .as_array()
        .expect("tail_sampling.policies");
    let types: BTreeSet<&str> = policies.iter().filter_map(|p| p["type"].as_str()).collect();
    assert_eq!(
        types,
        BTreeSet::from(["latency", "probabilistic", "status_code"])
    );
    for p in policies {
        let kind = p["type"].as_str().unwrap_or_default();
        assert!(
            p[kind].is_object(),
            "policy {} has no `{kind}` settings",
            p["name"]
        );
    }
    assert_eq!(
        strings(&policies[0]["status_code"]["status_codes"]),
        ["ERROR"]
    );
    // Jaeger, Tempo and Prometheus.
    for e in ["otlp_grpc/jaeger", "otlp_grpc/tempo", "prometheus"] {
        assert!(exporters.contains(e), "exporter {e}");
    }

    // The collector Deployment loads this file and exposes its ports.
    let objects = build("deploy/k8s/collector");
    let cm = find(&objects, "ConfigMap", "otel-collector-config").expect("generated ConfigMap");
    assert!(cm["data"]["otel-collector.yaml"].is_string());
    let deployment = find(&objects, "Deployment", "otel-collector").expect("collector Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .unwrap_or_default();
    let arg = format!("--config={mount}/otel-collector.yaml");
    assert!(strings(&container["args"]).contains(&arg.as_str()), "{arg}");
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        "otel-collector-config"
    );
    let service = find(&objects, "Service", "otel-collector").expect("collector Service");
    let service_ports: BTreeSet<u64> = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    for endpoint in [
        &config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        &config["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        &config["exporters"]["prometheus"]["endpoint"],
    ] {
        let port: u64 = endpoint
            .as_str()
            .and_then(|e| e.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("endpoint {endpoint}"));
        assert!(service_ports.contains(&port), "Service lacks port {port}");
    }
}

#[test]
fn envoy_routes_to_the_gateway_and_traces_to_the_collector() {
    let envoy = &documents("deploy/envoy/envoy.yaml")[0];
    let clusters: BTreeMap<&str, &Value> = envoy["static_resources"]["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default(), c))
        .collect();
    let endpoint = |cluster: &str| {
        let a = &clusters[cluster]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            ["address"]["socket_address"];
        (
            a["address"].as_str().unwrap_or_default().to_owned(),
            a["port_value"].as_u64().unwrap_or_default(),
        )
    };
    let listeners = envoy["static_resources"]["listeners"]
        .as_array()
        .expect("listeners");
    let hcm = &listeners[0]["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(
        hcm["generate_request_id"], true,
        "Envoy must make x-request-id"
    );
    assert_eq!(hcm["always_set_request_id_in_response"], true);
    let tracer = &hcm["tracing"]["provider"];
    assert_eq!(tracer["name"], "envoy.tracers.opentelemetry");
    let collector = tracer["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
        .as_str()
        .expect("tracer cluster");
    assert!(
        clusters.contains_key(collector),
        "tracer cluster {collector}"
    );
    assert!(
        clusters[collector]["typed_extension_protocol_options"]
            .to_string()
            .contains("http2_protocol_options"),
        "OTLP/gRPC needs HTTP/2 to the collector"
    );
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .expect("routes");
    let mut targets = BTreeSet::new();
    for r in routes {
        if let Some(c) = r["route"]["cluster"].as_str() {
            assert!(clusters.contains_key(c), "route to undefined cluster {c}");
            targets.insert(c);
        }
    }
    assert_eq!(targets.len(), 1, "every route goes to the gateway");
    let gateway_cluster = targets.into_iter().next().unwrap_or_default();

    // The addresses are the Services of the Kubernetes manifests.
    let svc_addr = |objects: &[&Value], name: &str, ns: &str| {
        let s = find(objects, "Service", name).unwrap_or_else(|| panic!("Service {name}"));
        (
            format!("{name}.{ns}.svc.cluster.local"),
            s["spec"]["ports"][0]["port"].as_u64().unwrap_or_default(),
        )
    };
    let base = build("deploy/k8s/base");
    assert_eq!(
        endpoint(gateway_cluster),
        svc_addr(&base, "gateway", "shop")
    );
    assert_eq!(
        endpoint(collector),
        svc_addr(&base, "otel-collector", "observability")
    );
}

#[test]
fn the_validator_rejects_broken_manifests() {
    // The same script over a tree with one broken Deployment: the schema
    // check must be able to fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let k8s = dir.path().join("deploy/k8s/bad");
    std::fs::create_dir_all(&k8s).expect("mkdir");
    std::fs::write(
        k8s.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\n",
    )
    .expect("write");
    std::fs::write(
        k8s.join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  replicas: two\n  \
         selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    \
         spec:\n      containers:\n        - name: a\n          image: x\n          envv: []\n",
    )
    .expect("write");
    let kit = read_kit(dir.path());
    let objects = kit["builds"][0]["objects"].as_array().expect("built");
    for version in KUBERNETES_VERSIONS {
        let r = &objects[0]["validation"][version];
        assert_eq!(r["status"], "invalid", "{version}: {r}");
    }
}

/// A SIGTERM starts a graceful stop (`otel_kit_core::shutdown_signal`); the pod
/// must live long enough for the batch delay and one export before
/// Kubernetes sends SIGKILL, or the last requests' spans are lost.
#[test]
fn every_service_has_time_to_flush_after_sigterm() {
    let ms = |env: &BTreeMap<String, String>, var: &str, default: u64| {
        env.get(var)
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|e| panic!("{var}={v}: {e}"))
            })
            .unwrap_or(default)
    };
    for dir in ["deploy/k8s/base", "deploy/k8s/istio", "deploy/k8s/linkerd"] {
        let objects = build(dir);
        let services = service_environments(dir);
        assert!(!services.is_empty(), "{dir}");
        for (service, env) in &services {
            let deployment = find(&objects, "Deployment", service).expect("deployment");
            let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{dir} {service}: no terminationGracePeriodSeconds"));
            let needed_ms = ms(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000)
                + ms(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000);
            assert!(
                grace * 1_000 >= needed_ms,
                "{dir} {service}: terminationGracePeriodSeconds {grace} < batch delay + export timeout ({needed_ms} ms)"
            );
        }
    }
}
