//! A real OTLP receiver for export tests: the rotel collector, run as a child
//! process on free loopback ports, recording everything it receives.
//!
//! ```no_run
//! use std::time::Duration;
//! use otel_tests::collector::Collector;
//!
//! let collector = Collector::start();
//! // ... point an OTLP exporter at `collector.grpc_endpoint()` or
//! // `collector.http_traces_endpoint()` and export ...
//! let spans = collector.wait_for_spans(1, Duration::from_secs(10));
//! assert_eq!(spans[0].name, "checkout");
//! assert_eq!(spans[0].resource_str("service.name"), Some("shop"));
//! ```
//!
//! How it works: rotel (`rotel==0.0.1a15` from PyPI, installed by
//! `scripts/test` into `.venv`) runs with `--exporter blackhole
//! --disable-batching` and the Python processor `tests/collector/processor.py`
//! for traces, metrics and logs. The processor appends every span, metric data
//! point and log record as one JSON line to a file in the collector's own
//! temporary directory; the methods here read those files back as typed
//! records.
//!
//! Read with the `wait_for_*` methods, not [`Collector::spans`] right after an
//! export: rotel can answer the export request before its processor has
//! written the data (measured: from microseconds up to ~20 ms later, in about
//! a third of runs), even with batching disabled. `wait_for_*(n, _)` returns as
//! soon as `n` records are there; to check that nothing *more* arrives, wait for
//! `n`, then look again after a short pause.
//!
//! Where the binary comes from: `OTEL_TEST_ROTEL` (absolute path of
//! `rotel-agent`), else `<repo>/.venv/lib/python3.*/site-packages/rotel/rotel-agent`.
//! When neither exists, [`Collector::start`] panics telling to run
//! `scripts/test`: an export test never skips silently.
//!
//! Everything here panics on failure (with rotel's log in the message): this is
//! test support, and the panic is the assertion.
//!
//! Set `OTEL_TEST_KEEP_COLLECTOR_DIR=1` to keep the temporary directory (its path
//! is printed) after the collector is dropped.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Environment variable naming the `rotel-agent` binary (set by `scripts/test`).
pub const ROTEL_ENV: &str = "OTEL_TEST_ROTEL";

/// The rotel version `scripts/test` installs, for messages.
pub const ROTEL_VERSION: &str = "0.0.1a15";

/// The processor rotel runs on every batch; written into the collector's
/// temporary directory at start.
const PROCESSOR_PY: &str = include_str!("../collector/processor.py");

const SPANS_FILE: &str = "spans.jsonl";
const METRICS_FILE: &str = "metrics.jsonl";
const LOGS_FILE: &str = "logs.jsonl";
const ERRORS_FILE: &str = "errors.jsonl";
const LOG_FILE: &str = "rotel.log";

/// How long [`Collector::start`] waits for both ports to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a port collision (another process took a port we picked) is retried.
const START_ATTEMPTS: usize = 5;
/// How long `Drop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long [`Collector::restart`] retries a port still in use.
pub const REBIND_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// A running rotel collector, stopped (and its directory removed) on drop.
pub struct Collector {
    child: Mutex<Child>,
    dir: Option<tempfile::TempDir>,
    grpc_port: u16,
    http_port: u16,
}

/// One span as the collector received it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ReceivedSpan {
    /// Trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// Span id, 16 lowercase hex digits.
    pub span_id: String,
    /// Parent span id in hex; empty for a root span.
    pub parent_span_id: String,
    /// W3C `tracestate` header value; empty when none.
    pub trace_state: String,
    /// OTLP span flags (bits 0-7 trace flags, 8-9 remote-parent info).
    pub flags: u32,
    /// Span name.
    pub name: String,
    /// OTLP `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// Status description (set only with an error status).
    pub status_message: String,
    /// Span attributes. See [`Attributes`] for how values are represented.
    pub attributes: Attributes,
    /// Attributes the SDK dropped because of limits.
    pub dropped_attributes_count: u32,
    /// Span events, in order.
    pub events: Vec<ReceivedEvent>,
    /// Span links, in order.
    pub links: Vec<ReceivedLink>,
    /// Attributes of the resource that sent the span (`service.name`, ...).
    pub resource: Attributes,
    /// Instrumentation scope name (the tracer's name).
    pub scope_name: String,
    /// Instrumentation scope version; empty when none.
    pub scope_version: String,
}

/// A span event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ReceivedEvent {
    /// Event name (`exception` for a recorded error).
    pub name: String,
    /// Event time, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Event attributes.
    pub attributes: Attributes,
}

/// A span link.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ReceivedLink {
    /// Linked trace id in hex.
    pub trace_id: String,
    /// Linked span id in hex.
    pub span_id: String,
    /// Linked span's `tracestate`; empty when none.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Attributes,
}

/// One metric data point as the collector received it, with its metric's
/// name, unit and type. A cumulative reader exporting twice yields the point
/// twice: use the last one (see [`Collector::last_metric`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ReceivedMetric {
    /// Metric name.
    pub name: String,
    /// Metric description; empty when none.
    pub description: String,
    /// Metric unit (UCUM); empty when none.
    pub unit: String,
    /// Metric type: `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram` or `Summary`;
    /// `Empty` when rotel passed the metric on without its data (rotel 0.0.1a15
    /// does so for some OTLP/JSON metrics: integer sums, histograms), one record
    /// per such metric.
    pub kind: String,
    /// Aggregation temporality for sums and histograms: 1 delta, 2 cumulative.
    pub temporality: Option<i32>,
    /// Whether a `Sum` is monotonic (a counter); `None` for other types.
    pub is_monotonic: Option<bool>,
    /// Data point attributes.
    pub attributes: Attributes,
    /// Start of the aggregation interval, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: Option<u64>,
    /// Time of the data point, nanoseconds since the Unix epoch.
    pub time_unix_nano: Option<u64>,
    /// Value of an integer `Gauge` / `Sum` point.
    #[serde(default)]
    pub as_int: Option<i64>,
    /// Value of a floating-point `Gauge` / `Sum` point.
    #[serde(default, deserialize_with = "de_float")]
    pub as_double: Option<f64>,
    /// Number of recorded values (histograms and summaries).
    #[serde(default)]
    pub count: Option<u64>,
    /// Sum of recorded values (histograms and summaries), when sent.
    #[serde(default, deserialize_with = "de_float")]
    pub sum: Option<f64>,
    /// Minimum recorded value (histograms), when sent.
    #[serde(default, deserialize_with = "de_float")]
    pub min: Option<f64>,
    /// Maximum recorded value (histograms), when sent.
    #[serde(default, deserialize_with = "de_float")]
    pub max: Option<f64>,
    /// Per-bucket counts of an explicit-bucket histogram (one more than the bounds).
    #[serde(default)]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of an explicit-bucket histogram's buckets.
    #[serde(default)]
    pub explicit_bounds: Vec<f64>,
    /// Attributes of the resource that sent the metric.
    pub resource: Attributes,
    /// Instrumentation scope name (the meter's name).
    pub scope_name: String,
    /// Instrumentation scope version; empty when none.
    pub scope_version: String,
}

/// One log record as the collector received it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ReceivedLog {
    /// Event time, nanoseconds since the Unix epoch (0 when not set).
    pub time_unix_nano: u64,
    /// Observed time, nanoseconds since the Unix epoch (0 when not set).
    pub observed_time_unix_nano: u64,
    /// OTLP severity number (1-24; 9 INFO, 13 WARN, 17 ERROR; 0 unspecified).
    pub severity_number: i32,
    /// Severity text as sent; empty when none.
    pub severity_text: String,
    /// The body, represented like an attribute value (see [`Attributes`]); `Null` when none.
    pub body: Value,
    /// Log record attributes.
    pub attributes: Attributes,
    /// Event name (OTLP `event_name`); empty when none.
    pub event_name: String,
    /// Trace flags of the record.
    pub flags: u32,
    /// Trace id in hex; empty when the record has no trace context.
    pub trace_id: String,
    /// Span id in hex; empty when the record has no trace context.
    pub span_id: String,
    /// Attributes of the resource that sent the record.
    pub resource: Attributes,
    /// Instrumentation scope name (the logger's name).
    pub scope_name: String,
    /// Instrumentation scope version; empty when none.
    pub scope_version: String,
}

/// Attribute key → value. Values are JSON: strings, integers, floats and
/// booleans as themselves; arrays as JSON arrays; key-value lists as objects;
/// bytes as a lowercase hex string; a non-finite float as the string `"NaN"`,
/// `"Infinity"` or `"-Infinity"`.
pub type Attributes = BTreeMap<String, Value>;

fn de_float<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => return Err(serde::de::Error::custom(format!("not a float: {other}"))),
        },
        Some(other) => return Err(serde::de::Error::custom(format!("not a float: {other}"))),
    })
}

macro_rules! attribute_getters {
    ($ty:ty) => {
        impl $ty {
            /// The attribute `key`, if present.
            pub fn attr(&self, key: &str) -> Option<&Value> {
                self.attributes.get(key)
            }
            /// The attribute `key` if it is a string.
            pub fn attr_str(&self, key: &str) -> Option<&str> {
                self.attributes.get(key).and_then(Value::as_str)
            }
            /// The attribute `key` if it is an integer.
            pub fn attr_i64(&self, key: &str) -> Option<i64> {
                self.attributes.get(key).and_then(Value::as_i64)
            }
            /// The attribute `key` if it is a number (integer or float).
            pub fn attr_f64(&self, key: &str) -> Option<f64> {
                self.attributes.get(key).and_then(Value::as_f64)
            }
            /// The attribute `key` if it is a boolean.
            pub fn attr_bool(&self, key: &str) -> Option<bool> {
                self.attributes.get(key).and_then(Value::as_bool)
            }
            /// The resource attribute `key` if it is a string (e.g. `service.name`).
            pub fn resource_str(&self, key: &str) -> Option<&str> {
                self.resource.get(key).and_then(Value::as_str)
            }
        }
    };
}
attribute_getters!(ReceivedSpan);
attribute_getters!(ReceivedMetric);
attribute_getters!(ReceivedLog);

impl ReceivedSpan {
    /// True when the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty() || self.parent_span_id.bytes().all(|b| b == b'0')
    }
    /// The first event named `name`.
    pub fn event(&self, name: &str) -> Option<&ReceivedEvent> {
        self.events.iter().find(|e| e.name == name)
    }
}

impl ReceivedMetric {
    /// The value of a `Gauge` / `Sum` point, integer or float, as `f64`.
    pub fn value(&self) -> Option<f64> {
        self.as_double.or(self.as_int.map(|v| v as f64))
    }
}

impl ReceivedLog {
    /// The body if it is a string.
    pub fn body_str(&self) -> Option<&str> {
        self.body.as_str()
    }
}

impl Collector {
    /// Starts rotel on two free 127.0.0.1 ports (gRPC and HTTP) and waits until
    /// both accept connections.
    ///
    /// # Panics
    /// When the binary is missing (the message says to run `scripts/test`), or
    /// rotel does not come up (the message carries its log).
    pub fn start() -> Collector {
        let binary = rotel_binary();
        let mut last_failure = String::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(&binary) {
                Ok(collector) => return collector,
                Err(StartError::PortTaken(log)) => {
                    // Another process took a port between our probe and rotel's bind.
                    last_failure = format!("attempt {attempt}: a port was taken\n{log}");
                }
                Err(StartError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!(
            "rotel collector could not bind free ports in {START_ATTEMPTS} attempts; last failure: {last_failure}"
        );
    }

    fn try_start(binary: &Path) -> Result<Collector, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("otel-tests-collector-")
            .tempdir()
            .map_err(|e| StartError::Fatal(format!("cannot create a temporary directory: {e}")))?;
        let processor = dir.path().join("processor.py");
        fs::write(&processor, PROCESSOR_PY)
            .map_err(|e| StartError::Fatal(format!("cannot write {}: {e}", processor.display())))?;
        let (grpc_port, http_port) = free_port_pair()
            .map_err(|e| StartError::Fatal(format!("cannot find free 127.0.0.1 ports: {e}")))?;
        let child = spawn_rotel(binary, dir.path(), grpc_port, http_port)?;

        let collector = Collector {
            child: Mutex::new(child),
            dir: Some(dir),
            grpc_port,
            http_port,
        };
        collector.wait_ready(binary)?;
        Ok(collector)
    }

    /// Waits until both ports accept connections, or rotel exits.
    fn wait_ready(&self, binary: &Path) -> Result<(), StartError> {
        let (grpc_port, http_port) = (self.grpc_port, self.http_port);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                let log = self.log();
                return Err(if log.contains("Address already in use") {
                    StartError::PortTaken(log)
                } else {
                    StartError::Fatal(format!(
                        "rotel ({}) exited during start-up with {status}; its output:\n{log}",
                        binary.display()
                    ))
                });
            }
            if port_open(grpc_port) && port_open(http_port) {
                // A port answering while rotel failed to bind it means another
                // process holds it; rotel then exits at once, so look again.
                std::thread::sleep(POLL);
                if self.exit_status().is_none() {
                    return Ok(());
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(StartError::Fatal(format!(
                    "rotel ({}) did not accept connections on 127.0.0.1:{grpc_port} (gRPC) and \
                     127.0.0.1:{http_port} (HTTP) within {READY_TIMEOUT:?}; its output:\n{}",
                    binary.display(),
                    self.log()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops rotel (SIGTERM, then SIGKILL after a few seconds): its ports
    /// refuse connections until [`Collector::restart`]. What it received so
    /// far stays readable.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        terminate(&mut child);
        // Wait until nothing accepts on the ports any more.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while (port_open(self.grpc_port) || port_open(self.http_port)) && Instant::now() < deadline
        {
            std::thread::sleep(POLL);
        }
    }

    /// Starts rotel again on the same two ports after [`Collector::stop`];
    /// newly received records are appended to what was received before.
    ///
    /// # Panics
    /// When rotel does not come up (for instance another process took one
    /// of the ports meanwhile); a port refused with "address in use" is
    /// retried for up to [`REBIND_TIMEOUT`] first.
    pub fn restart(&self) {
        let binary = rotel_binary();
        let mut last = String::new();
        let deadline = Instant::now() + REBIND_TIMEOUT;
        while Instant::now() < deadline {
            let child = match spawn_rotel(&binary, self.dir(), self.grpc_port, self.http_port) {
                Ok(child) => child,
                Err(StartError::Fatal(msg) | StartError::PortTaken(msg)) => panic!("{msg}"),
            };
            *self.child.lock().unwrap_or_else(|p| p.into_inner()) = child;
            match self.wait_ready(&binary) {
                Ok(()) => return,
                Err(StartError::PortTaken(log)) => {
                    last = log;
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(StartError::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!("rotel could not bind its ports again after a restart: {last}");
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The OTLP/HTTP base endpoint, `http://127.0.0.1:PORT` (as for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; the signal paths are appended to it).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The full OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces`.
    pub fn http_traces_endpoint(&self) -> String {
        format!("{}/v1/traces", self.http_endpoint())
    }

    /// The full OTLP/HTTP metrics URL, `http://127.0.0.1:PORT/v1/metrics`.
    pub fn http_metrics_endpoint(&self) -> String {
        format!("{}/v1/metrics", self.http_endpoint())
    }

    /// The full OTLP/HTTP logs URL, `http://127.0.0.1:PORT/v1/logs`.
    pub fn http_logs_endpoint(&self) -> String {
        format!("{}/v1/logs", self.http_endpoint())
    }

    /// The gRPC port on 127.0.0.1.
    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    /// The HTTP port on 127.0.0.1.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The collector's temporary directory (processor output and rotel's log).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("collector directory").path()
    }

    /// Everything rotel has printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join(LOG_FILE)).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    /// Every span received so far, in arrival order. Right after an export
    /// the newest may still be missing: see [`Collector::wait_for_spans`].
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.read(SPANS_FILE)
    }

    /// Everything received so far as the raw JSON lines the processor wrote
    /// (spans, metric points and log records), for searching the text, e.g.
    /// to check that no secret reached the collector.
    pub fn received_text(&self) -> String {
        self.check_processor_errors();
        [SPANS_FILE, METRICS_FILE, LOGS_FILE]
            .iter()
            .filter_map(|f| fs::read_to_string(self.dir().join(f)).ok())
            .collect::<Vec<_>>()
            .join("")
    }

    /// Every metric data point received so far, in arrival order.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.read(METRICS_FILE)
    }

    /// Every log record received so far, in arrival order.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.read(LOGS_FILE)
    }

    /// The most recently received data point of the metric `name` whose
    /// attributes include all of `attributes`.
    pub fn last_metric(&self, name: &str, attributes: &[(&str, Value)]) -> Option<ReceivedMetric> {
        self.metrics().into_iter().rev().find(|m| {
            m.name == name
                && attributes
                    .iter()
                    .all(|(k, v)| m.attributes.get(*k) == Some(v))
        })
    }

    /// Waits until at least `n` spans have arrived and returns all received so far.
    ///
    /// # Panics
    /// After `timeout`, with what did arrive and rotel's log.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.wait_blocking(SPANS_FILE, "spans", n, timeout, |s: &ReceivedSpan| {
            s.name.clone()
        })
    }

    /// Waits until at least `n` metric data points have arrived and returns all received so far.
    ///
    /// # Panics
    /// After `timeout`, with what did arrive and rotel's log.
    pub fn wait_for_metrics(&self, n: usize, timeout: Duration) -> Vec<ReceivedMetric> {
        self.wait_blocking(
            METRICS_FILE,
            "metric data points",
            n,
            timeout,
            |m: &ReceivedMetric| m.name.clone(),
        )
    }

    /// Waits until at least `n` log records have arrived and returns all received so far.
    ///
    /// # Panics
    /// After `timeout`, with what did arrive and rotel's log.
    pub fn wait_for_logs(&self, n: usize, timeout: Duration) -> Vec<ReceivedLog> {
        self.wait_blocking(LOGS_FILE, "log records", n, timeout, |l: &ReceivedLog| {
            l.body.to_string()
        })
    }

    /// [`Collector::wait_for_spans`] for async tests: sleeps with Tokio instead
    /// of blocking the thread, so exports driven by the same runtime go on.
    pub async fn wait_for_spans_async(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.wait_async(SPANS_FILE, "spans", n, timeout, |s: &ReceivedSpan| {
            s.name.clone()
        })
        .await
    }

    /// [`Collector::wait_for_metrics`] for async tests.
    pub async fn wait_for_metrics_async(&self, n: usize, timeout: Duration) -> Vec<ReceivedMetric> {
        self.wait_async(
            METRICS_FILE,
            "metric data points",
            n,
            timeout,
            |m: &ReceivedMetric| m.name.clone(),
        )
        .await
    }

    /// [`Collector::wait_for_logs`] for async tests.
    pub async fn wait_for_logs_async(&self, n: usize, timeout: Duration) -> Vec<ReceivedLog> {
        self.wait_async(LOGS_FILE, "log records", n, timeout, |l: &ReceivedLog| {
            l.body.to_string()
        })
        .await
    }

    fn wait_blocking<T: DeserializeOwned>(
        &self,
        file: &str,
        what: &str,
        n: usize,
        timeout: Duration,
        describe: impl Fn(&T) -> String,
    ) -> Vec<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(done) = self.poll(file, what, n, deadline, timeout, &describe) {
                return done;
            }
            std::thread::sleep(POLL);
        }
    }

    async fn wait_async<T: DeserializeOwned>(
        &self,
        file: &str,
        what: &str,
        n: usize,
        timeout: Duration,
        describe: impl Fn(&T) -> String,
    ) -> Vec<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(done) = self.poll(file, what, n, deadline, timeout, &describe) {
                return done;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One look: `Some` when `n` records are there; panics past the deadline
    /// or when rotel has died.
    fn poll<T: DeserializeOwned>(
        &self,
        file: &str,
        what: &str,
        n: usize,
        deadline: Instant,
        timeout: Duration,
        describe: &impl Fn(&T) -> String,
    ) -> Option<Vec<T>> {
        let records: Vec<T> = self.read(file);
        if records.len() >= n {
            return Some(records);
        }
        if let Some(status) = self.exit_status() {
            panic!(
                "rotel exited ({status}) while waiting for {n} {what} ({} arrived); its output:\n{}",
                records.len(),
                self.log()
            );
        }
        if Instant::now() >= deadline {
            let got: Vec<String> = records.iter().map(describe).collect();
            panic!(
                "waited {timeout:?} for {n} {what} at the collector (gRPC {}, HTTP {}), {} arrived: {got:?}\n\
                 rotel's output:\n{}",
                self.grpc_endpoint(),
                self.http_endpoint(),
                records.len(),
                self.log()
            );
        }
        None
    }

    /// Parses the complete lines of one output file (a missing file is empty).
    /// Panics if the processor reported an error.
    fn read<T: DeserializeOwned>(&self, file: &str) -> Vec<T> {
        self.check_processor_errors();
        let path = self.dir().join(file);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        // The processor writes whole lines; an unterminated tail is still being written.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad record in {}: {e}\n{line}", path.display()))
            })
            .collect()
    }

    fn check_processor_errors(&self) {
        if let Ok(errors) = fs::read_to_string(self.dir().join(ERRORS_FILE))
            && !errors.trim().is_empty()
        {
            let text: Vec<String> = errors
                .lines()
                .map(|line| match serde_json::from_str::<Value>(line) {
                    Ok(v) => format!(
                        "{}: {}",
                        v["where"].as_str().unwrap_or("?"),
                        v["error"].as_str().unwrap_or(line)
                    ),
                    Err(_) => line.to_owned(),
                })
                .collect();
            panic!(
                "the collector's processor (tests/collector/processor.py) failed, data may be missing:\n{}",
                text.join("\n")
            );
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        terminate(child);
        if let Some(dir) = self.dir.take()
            && std::env::var_os("OTEL_TEST_KEEP_COLLECTOR_DIR").is_some_and(|v| !v.is_empty())
        {
            eprintln!(
                "otel-tests: keeping collector directory {}",
                dir.keep().display()
            );
        }
    }
}

enum StartError {
    /// Another process bound one of the ports first: try other ports.
    PortTaken(String),
    /// Anything else: give up with this message.
    Fatal(String),
}

/// SIGTERM, SIGKILL after [`STOP_TIMEOUT`], then reaps the process.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let pid = rustix::process::Pid::from_child(child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// Runs rotel on the given ports with its processor and log in `dir` (the
/// log is appended to, so a restart keeps the earlier output).
fn spawn_rotel(
    binary: &Path,
    dir: &Path,
    grpc_port: u16,
    http_port: u16,
) -> Result<Child, StartError> {
    let processor = dir.join("processor.py");
    if !processor.exists() {
        fs::write(&processor, PROCESSOR_PY)
            .map_err(|e| StartError::Fatal(format!("cannot write {}: {e}", processor.display())))?;
    }
    let log_path = dir.join(LOG_FILE);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| StartError::Fatal(format!("cannot open {}: {e}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| StartError::Fatal(format!("cannot clone log handle: {e}")))?;
    let mut cmd = Command::new(binary);
    cmd.arg("start")
        .arg("--otlp-grpc-endpoint")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .arg("--otlp-http-endpoint")
        .arg(format!("127.0.0.1:{http_port}"))
        .args(["--exporter", "blackhole", "--disable-batching"])
        .arg("--otlp-with-trace-processor")
        .arg(&processor)
        .arg("--otlp-with-metrics-processor")
        .arg(&processor)
        .arg("--otlp-with-logs-processor")
        .arg(&processor)
        // Only used in daemon mode, but keep them out of the shared /tmp defaults.
        .arg("--pid-file")
        .arg(dir.join("rotel.pid"))
        .arg("--log-file")
        .arg(dir.join("rotel-daemon.log"))
        .env("OTEL_TESTS_COLLECTOR_DIR", dir)
        .env("NO_COLOR", "1")
        // The embedded interpreter needs only its own standard library.
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    // The caller's ROTEL_* settings would override our command line.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ROTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.spawn().map_err(|e| {
        StartError::Fatal(format!(
            "cannot run {} ({e}); {}",
            binary.display(),
            install_hint()
        ))
    })
}

/// Two distinct free ports: bind both to port 0 at once, then release them.
/// Two free loopback ports **below the kernel's ephemeral range**: a port
/// from that range (what binding port 0 gives) can be taken by any outgoing
/// connection on the machine while rotel is stopped between
/// [`Collector::stop`] and [`Collector::restart`] (seen under a load test
/// running beside the suite), and rotel could not bind it again.
fn free_port_pair() -> io::Result<(u16, u16)> {
    use std::hash::BuildHasher;
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.saturating_sub(1).max(10_001));
    let span = u64::from(high - low);
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0u64..500 {
        let pick =
            |salt: u64| low + (random.hash_one((std::process::id(), attempt, salt)) % span) as u16;
        let (a, b) = (pick(0), pick(1));
        if a == b {
            continue;
        }
        if let (Ok(_a), Ok(_b)) = (
            TcpListener::bind((Ipv4Addr::LOCALHOST, a)),
            TcpListener::bind((Ipv4Addr::LOCALHOST, b)),
        ) {
            return Ok((a, b));
        }
    }
    // A machine whose every low port is taken: any free pair.
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn repo_root() -> PathBuf {
    // This crate lives at <repo>/tests.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn install_hint() -> String {
    format!(
        "run `scripts/test` once from the repository root: it installs rotel=={ROTEL_VERSION} \
         into {}/.venv and exports {ROTEL_ENV} for the tests (or set {ROTEL_ENV} to the \
         absolute path of `rotel-agent`)",
        repo_root().display()
    )
}

/// The rotel binary: `OTEL_TEST_ROTEL`, else the repository's `.venv`.
///
/// # Panics
/// When neither exists: an export test must fail, not skip.
pub fn rotel_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(ROTEL_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return path;
        }
        panic!(
            "{ROTEL_ENV}={} does not name a file; {}",
            path.display(),
            install_hint()
        );
    }
    let lib = repo_root().join(".venv").join("lib");
    if let Ok(entries) = fs::read_dir(&lib) {
        let mut candidates: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| {
                e.path()
                    .join("site-packages")
                    .join("rotel")
                    .join("rotel-agent")
            })
            .filter(|p| p.is_file())
            .collect();
        candidates.sort();
        if let Some(found) = candidates.pop() {
            return found;
        }
    }
    panic!(
        "the OTLP collector for export tests (rotel-agent) was not found: {ROTEL_ENV} is not set \
         and {} has no rotel package; {}",
        lib.display(),
        install_hint()
    );
}
