//! Python peers for interoperability tests: a script of
//! `tests/python/interop/` run with the test venv's interpreter, reporting
//! what it did as JSON lines on stdout.
//!
//! ```no_run
//! use otel_tests::python::PythonPeer;
//!
//! # async fn demo() {
//! let mut server = PythonPeer::spawn("http_server.py", &["--propagator", "w3c"]);
//! let port = server.wait_for("listening", |r| r.kind == "listening").await["port"].clone();
//! // ... call the server ...
//! let span = server.wait_for_span("GET /hello").await;
//! assert_eq!(span.kind, "SERVER");
//! server.finish().await;
//! # }
//! ```
//!
//! Every line the script prints on stdout is a JSON object with a `type`
//! (`span` for a finished span, see [`PeerSpan`]; others per script). Lines
//! that are not JSON are kept and shown in failure messages, like stderr.
//!
//! The interpreter is `OTEL_TEST_PYTHON` (set by `scripts/test` to
//! `.venv/bin/python`, with the packages of `tests/python/requirements.txt`).
//! When it is unset, [`PythonPeer::spawn`] panics telling to run the tests
//! through `scripts/test`: an interop test never passes without its peer.
//! The child gets no `OTEL_*` variable of the test's environment (the scripts
//! configure the Python SDK explicitly) and is killed when the peer is dropped.
//!
//! Everything here panics on failure with the script's command line, its
//! records so far, its exit status and its stderr: this is test support, and
//! the panic is the assertion.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Environment variable naming the Python interpreter (set by `scripts/test`).
pub const PYTHON_ENV: &str = "OTEL_TEST_PYTHON";

/// How long a script may take to report a record or to exit: Python starts
/// and imports the SDK in well under a second; this is a bound, not a timing.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// The folder of the interop scripts.
pub fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/interop")
}

/// The interpreter from `OTEL_TEST_PYTHON`.
///
/// # Panics
///
/// When the variable is unset or empty, saying to run through `scripts/test`.
pub fn interpreter() -> PathBuf {
    match std::env::var_os(PYTHON_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "{PYTHON_ENV} is not set: the Python interop tests need the test venv \
             (tests/python/requirements.txt). Run them through the project's test command, e.g. \
             `OTEL_TEST_SERVICES_ONLY=1 scripts/test cargo test -p otel-tests --test interop_python`"
        ),
    }
}

/// One line a script reported: its `type` and the whole object.
#[derive(Clone, Debug)]
pub struct Record {
    /// The record's `type` field.
    pub kind: String,
    /// The whole JSON object.
    pub value: Value,
}

impl std::ops::Index<&str> for Record {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        &self.value[key]
    }
}

/// A link of a [`PeerSpan`].
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PeerLink {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
}

/// A span the Python SDK finished, as `peer.py` reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct PeerSpan {
    /// Span name.
    pub name: String,
    /// `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`.
    pub kind: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// Whether the parent came from another process (extracted).
    pub parent_is_remote: bool,
    /// The sampled trace flag.
    pub sampled: bool,
    /// The W3C `tracestate` header form of the span's trace state.
    pub trace_state: String,
    /// The span's links.
    pub links: Vec<PeerLink>,
    /// Scalar attributes.
    pub attributes: BTreeMap<String, Value>,
}

/// A running script of `tests/python/interop/`, killed when dropped.
pub struct PythonPeer {
    command_line: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Result<Record, String>>,
    stdout_done: bool,
    records: Vec<Record>,
    noise: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_task: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl PythonPeer {
    /// Starts `script` (a file name in [`scripts_dir`]) with `args`.
    ///
    /// # Panics
    ///
    /// When `OTEL_TEST_PYTHON` is unset (see [`interpreter`]) or the
    /// interpreter cannot be started. Needs a Tokio runtime.
    pub fn spawn(script: &str, args: &[&str]) -> Self {
        let python = interpreter();
        let path = scripts_dir().join(script);
        let command_line = format!("{} {} {}", python.display(), path.display(), args.join(" "));
        let mut command = Command::new(&python);
        command
            .arg("-u")
            .arg(&path)
            .args(args)
            .current_dir(scripts_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command_line}`: {e} ({PYTHON_ENV})"));

        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let record = match serde_json::from_str::<Value>(&line) {
                    Ok(value) => match value["type"].as_str() {
                        Some(kind) => Ok(Record {
                            kind: kind.to_owned(),
                            value,
                        }),
                        None => Err(line),
                    },
                    Err(_) => Err(line),
                };
                if sender.send(record).is_err() {
                    break;
                }
            }
        });

        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_sink = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                stderr_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        Self {
            command_line,
            stdin: child.stdin.take(),
            child,
            lines,
            stdout_done: false,
            records: Vec::new(),
            noise: Vec::new(),
            stderr,
            stderr_task: Some(stderr_task),
            status: None,
        }
    }

    /// Every record received so far, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Every span record received so far, in order.
    pub fn spans(&self) -> Vec<PeerSpan> {
        self.records
            .iter()
            .filter(|r| r.kind == "span")
            .map(|r| parse_span(&r.value))
            .collect()
    }

    /// The first record (already received or arriving within
    /// [`PEER_TIMEOUT`]) for which `predicate` holds. `what` names it in the
    /// failure message.
    pub async fn wait_for(&mut self, what: &str, predicate: impl Fn(&Record) -> bool) -> Record {
        if let Some(found) = self.records.iter().find(|r| predicate(r)) {
            return found.clone();
        }
        let deadline = tokio::time::Instant::now() + PEER_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.next_line()).await {
                Ok(Some(record)) => {
                    if predicate(&record) {
                        return record;
                    }
                }
                Ok(None) => {
                    let status = self.wait_exit().await;
                    self.fail(&format!("exited ({status}) without reporting {what}"))
                        .await
                }
                Err(_) => {
                    self.fail(&format!("reported no {what} within {PEER_TIMEOUT:?}"))
                        .await
                }
            }
        }
    }

    /// The first span named `name`.
    pub async fn wait_for_span(&mut self, name: &str) -> PeerSpan {
        let record = self
            .wait_for(&format!("a span named {name:?}"), |r| {
                r.kind == "span" && r["name"] == name
            })
            .await;
        parse_span(&record.value)
    }

    /// Closes the script's stdin (the servers stop on that), waits for it to
    /// exit and for its last records, and checks it exited successfully.
    /// Returns every record it reported.
    pub async fn finish(mut self) -> Vec<Record> {
        self.stdin.take();
        let status = match tokio::time::timeout(PEER_TIMEOUT, self.wait_exit()).await {
            Ok(status) => status,
            Err(_) => {
                self.fail(&format!(
                    "did not exit within {PEER_TIMEOUT:?} after its stdin closed"
                ))
                .await
            }
        };
        while self.next_line().await.is_some() {}
        if !status.success() {
            self.fail(&format!("failed ({status})")).await;
        }
        std::mem::take(&mut self.records)
    }

    /// Waits for the whole run of a script that exits by itself (a client,
    /// a producer), checks its success and returns its records.
    pub async fn run(script: &str, args: &[&str]) -> Vec<Record> {
        Self::spawn(script, args).finish().await
    }

    async fn next_line(&mut self) -> Option<Record> {
        if self.stdout_done {
            return None;
        }
        loop {
            match self.lines.recv().await {
                Some(Ok(record)) => {
                    self.records.push(record.clone());
                    return Some(record);
                }
                Some(Err(noise)) => self.noise.push(noise),
                None => {
                    self.stdout_done = true;
                    return None;
                }
            }
        }
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = self
            .child
            .wait()
            .await
            .unwrap_or_else(|e| panic!("waiting for `{}`: {e}", self.command_line));
        self.status = Some(status);
        status
    }

    /// Panics with everything known about the run.
    async fn fail(&mut self, problem: &str) -> ! {
        if self.status.is_none() {
            // Still running: stop it, so its stderr is complete.
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.wait_exit()).await;
        }
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let mut message = format!("python peer `{}` {problem}\n", self.command_line);
        let _ = writeln!(message, "records ({}):", self.records.len());
        for record in &self.records {
            let _ = writeln!(message, "  {}", record.value);
        }
        if !self.noise.is_empty() {
            let _ = writeln!(message, "other stdout:\n  {}", self.noise.join("\n  "));
        }
        let _ = write!(message, "stderr:\n{}", self.stderr.lock().unwrap());
        panic!("{message}");
    }
}

fn parse_span(value: &Value) -> PeerSpan {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("malformed span record {value}: {e}"))
}

/// The one span named `name` among `records` (from [`PythonPeer::finish`]).
///
/// # Panics
///
/// When there is none or several, listing the records.
pub fn span_named(records: &[Record], name: &str) -> PeerSpan {
    let mut found = records
        .iter()
        .filter(|r| r.kind == "span" && r["name"] == name);
    match (found.next(), found.next()) {
        (Some(one), None) => parse_span(&one.value),
        _ => panic!("expected exactly one span named {name:?} among {records:#?}"),
    }
}

/// The one record of type `kind` among `records`.
///
/// # Panics
///
/// When there is none or several, listing the records.
pub fn record_of<'a>(records: &'a [Record], kind: &str) -> &'a Record {
    let mut found = records.iter().filter(|r| r.kind == kind);
    match (found.next(), found.next()) {
        (Some(one), None) => one,
        _ => panic!("expected exactly one {kind:?} record among {records:#?}"),
    }
}
