//! The server as a child process, and CPU time from the kernel's own
//! accounting: the scheduler's run time of each of its threads
//! (`/proc/<pid>/task/*/schedstat`, nanoseconds), else user + system time
//! (`/proc/<pid>/stat`, clock ticks).

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use super::Variant;

/// CPU time consumed so far by process `pid`: the sum of its live
/// threads' scheduler run time in nanoseconds (`schedstat`), or, where the
/// kernel has no schedstat, user + system time at clock-tick resolution
/// (usually 10 ms: 3 % of a 10 s phase of `/hello` at 1000 requests/s).
///
/// A thread that exits between two readings takes its time with it from
/// the schedstat sum; the servers' threads (Tokio workers, the delay
/// thread, the SDK's export threads) live as long as the process.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    match sched_run_time(pid) {
        Ok(t) => Ok(t),
        Err(_) => stat_cpu_time(pid),
    }
}

/// Sum of `/proc/<pid>/task/<tid>/schedstat`'s first field (time on a CPU,
/// ns) over the process's threads.
fn sched_run_time(pid: u32) -> io::Result<Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // The thread exited while we listed them.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let ns: u64 = text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other(format!("malformed {}", path.display())))?;
        total = total.saturating_add(ns);
    }
    Ok(Duration::from_nanos(total))
}

/// User + system time of all threads from `/proc/<pid>/stat`, in clock ticks.
fn stat_cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14, stime field 15.
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))
    };
    let total = ticks(14)? + ticks(15)?;
    let hz = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64(total as f64 / hz as f64))
}

/// The load average (1, 5, 15 minutes) from `/proc/loadavg`, as written there.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A running `load serve <variant>` child.
pub struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl ServerProcess {
    /// Starts `exe serve <variant> [otlp_endpoint]` and waits for its `READY` line.
    pub fn start(exe: &Path, variant: Variant, otlp_endpoint: Option<&str>) -> io::Result<Self> {
        let mut cmd = Command::new(exe);
        cmd.arg("serve").arg(variant.name());
        if let Some(e) = otlp_endpoint {
            cmd.arg(e);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                let _ = child.kill();
                io::Error::other(format!(
                    "server {}: expected READY, got {line:?}",
                    variant.name()
                ))
            })?;
        Ok(ServerProcess {
            child,
            stdin,
            stdout,
            port,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time it has used so far.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        cpu_time(self.pid())
    }

    /// Stops serving, waits for its final export (`DONE`) and its exit.
    pub fn stop(mut self) -> io::Result<()> {
        writeln!(self.stdin, "STOP")?;
        self.stdin.flush()?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                break;
            }
            if line.trim() == "DONE" {
                break;
            }
        }
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("server exited with {status}")))
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Only when `stop` was not reached (a panic): never leave it running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The resident set of process `pid` now and at its peak (`VmRSS`,
/// `VmHWM` of `/proc/<pid>/status`), in bytes.
pub fn memory(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Scheduler run time of the threads of process `pid` whose name
/// (`/proc/<pid>/task/<tid>/comm`, at most 15 bytes) starts with one of
/// `prefixes`.
pub fn threads_cpu_time(pid: u32, prefixes: &[&str]) -> io::Result<Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // exited while listed
        };
        if !prefixes.iter().any(|p| name.trim_end().starts_with(p)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        total = total.saturating_add(
            text.split_whitespace()
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or(0),
        );
    }
    Ok(Duration::from_nanos(total))
}
