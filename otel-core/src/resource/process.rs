//! `process.*` attributes.

use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_semantic_conventions::resource::{
    PROCESS_COMMAND_ARGS, PROCESS_EXECUTABLE_NAME, PROCESS_PID,
};
use std::path::{Path, PathBuf};

/// What detection knows about the running process: its id, executable path
/// and command-line arguments.
///
/// [`ProcessInfo::current`] reads the real process; tests build one by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pid: Option<u32>,
    executable_path: Option<PathBuf>,
    args: Vec<String>,
}

impl ProcessInfo {
    /// The running process: its pid, the path of its executable (on Linux the
    /// target of `/proc/self/exe`, minus a ` (deleted)` suffix; falling back to
    /// the first command-line argument) and its arguments (non-UTF-8 parts
    /// replaced). The arguments are only recorded when asked for, see
    /// [`Detector::ProcessCommandArgs`](super::Detector::ProcessCommandArgs).
    pub fn current() -> Self {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let executable_path = std::env::current_exe()
            .ok()
            .map(|path| {
                let text = path.to_string_lossy();
                match text.strip_suffix(" (deleted)") {
                    Some(stripped) => PathBuf::from(stripped),
                    None => path,
                }
            })
            .or_else(|| args.first().map(PathBuf::from));
        Self {
            pid: Some(std::process::id()),
            executable_path,
            args,
        }
    }

    /// A process with this pid and nothing else known.
    pub fn new(pid: u32) -> Self {
        Self {
            pid: Some(pid),
            ..Self::default()
        }
    }

    /// Sets the executable's path.
    pub fn with_executable_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.executable_path = Some(path.into());
        self
    }

    /// Sets the command-line arguments (the first one is the program as invoked).
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The process id, when known.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The executable's path, when known.
    pub fn executable_path(&self) -> Option<&Path> {
        self.executable_path.as_deref()
    }

    /// The base name of the executable (`shop` for `/usr/bin/shop`), when known.
    pub fn executable_name(&self) -> Option<String> {
        let name = self.executable_path.as_deref()?.file_name()?;
        let name = name.to_string_lossy();
        (!name.is_empty()).then(|| name.into_owned())
    }

    /// The command-line arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

/// `process.pid`, `process.executable.name` and, only when `with_args`,
/// `process.command_args` (arguments can hold secrets, so they are opt-in).
pub(crate) fn detect(process: &ProcessInfo, with_args: bool, out: &mut Vec<KeyValue>) {
    if let Some(pid) = process.pid() {
        out.push(KeyValue::new(PROCESS_PID, i64::from(pid)));
    }
    if let Some(name) = process.executable_name() {
        out.push(KeyValue::new(PROCESS_EXECUTABLE_NAME, name));
    }
    if with_args && !process.args().is_empty() {
        let args: Vec<StringValue> = process.args().iter().cloned().map(Into::into).collect();
        out.push(KeyValue::new(
            PROCESS_COMMAND_ARGS,
            Value::Array(args.into()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_known() {
        let process = ProcessInfo::current();
        assert_eq!(process.pid(), Some(std::process::id()));
        let name = process.executable_name().expect("test binary has a name");
        assert!(name.starts_with("otel_kit_core"), "{name}");
        assert!(!process.args().is_empty());
    }

    #[test]
    fn detects_pid_and_name_but_args_only_on_request() {
        let process = ProcessInfo::new(42)
            .with_executable_path("/srv/bin/shop")
            .with_args(["/srv/bin/shop", "--password=hunter2"]);

        let mut out = Vec::new();
        detect(&process, false, &mut out);
        assert_eq!(
            out,
            vec![
                KeyValue::new(PROCESS_PID, 42_i64),
                KeyValue::new(PROCESS_EXECUTABLE_NAME, "shop"),
            ]
        );

        let mut out = Vec::new();
        detect(&process, true, &mut out);
        let args: Vec<StringValue> = vec!["/srv/bin/shop".into(), "--password=hunter2".into()];
        assert_eq!(
            out.last(),
            Some(&KeyValue::new(
                PROCESS_COMMAND_ARGS,
                Value::Array(args.into())
            ))
        );

        let mut out = Vec::new();
        detect(&ProcessInfo::default(), true, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
