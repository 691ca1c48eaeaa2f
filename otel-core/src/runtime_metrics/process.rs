//! `process.*` metrics from `/proc/self` (Linux and Android).
//!
//! Each observable instrument reads the file it needs at collection time
//! (`stat` for CPU time, memory, threads and start time, `status` for
//! context switches, the `fd` directory for descriptors): nothing runs
//! between collections.

use opentelemetry::metrics::Meter;

/// Whether this platform has `/proc`.
pub(super) const SUPPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn register(_meter: &Meter) {}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) use linux::register;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use super::Meter;
    use opentelemetry::KeyValue;
    use std::sync::Mutex;
    use std::time::Instant;

    const CPU_MODE: &str = "cpu.mode";
    const CONTEXT_SWITCH_TYPE: &str = "process.context_switch.type";

    /// The fields of `/proc/self/stat` these metrics use.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub(crate) struct Stat {
        /// User-mode CPU time, seconds.
        pub(crate) user: f64,
        /// Kernel-mode CPU time, seconds.
        pub(crate) system: f64,
        pub(crate) threads: i64,
        /// Start time after boot, seconds.
        pub(crate) start: f64,
        /// Virtual memory size, bytes.
        pub(crate) virtual_bytes: i64,
        /// Resident set size, bytes.
        pub(crate) resident_bytes: i64,
    }

    /// Parses `/proc/self/stat`: the fields after the command name, which
    /// is in parentheses and may itself hold spaces and parentheses.
    pub(crate) fn parse_stat(text: &str, ticks: f64, page: i64) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        // `fields[0]` is field 3 of proc(5), `state`.
        let field = |n: usize| fields.get(n - 3).copied();
        let float = |n: usize| field(n)?.parse::<u64>().ok().map(|v| v as f64);
        let int = |n: usize| field(n)?.parse::<i64>().ok();
        Some(Stat {
            user: float(14)? / ticks,
            system: float(15)? / ticks,
            threads: int(20)?,
            start: float(22)? / ticks,
            virtual_bytes: int(23)?,
            resident_bytes: int(24)?.saturating_mul(page),
        })
    }

    pub(crate) fn stat() -> Option<Stat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(
            &text,
            rustix::param::clock_ticks_per_second() as f64,
            rustix::param::page_size() as i64,
        )
    }

    /// Voluntary and involuntary context switches (`/proc/self/status`).
    pub(crate) fn context_switches() -> Option<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Some((
            value("voluntary_ctxt_switches:")?,
            value("nonvoluntary_ctxt_switches:")?,
        ))
    }

    /// Open file descriptors, not counting the one used to list them.
    pub(crate) fn open_descriptors() -> Option<i64> {
        let entries = std::fs::read_dir("/proc/self/fd").ok()?;
        let n = entries.filter(|e| e.is_ok()).count() as i64;
        Some((n - 1).max(0))
    }

    /// Seconds since the process started.
    pub(crate) fn uptime(stat: &Stat) -> Option<f64> {
        let text = std::fs::read_to_string("/proc/uptime").ok()?;
        let since_boot: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
        Some((since_boot - stat.start).max(0.0))
    }

    /// CPU time per mode since the previous call, over the elapsed time and
    /// the CPUs available to the process; the first call measures from the
    /// process start.
    #[derive(Debug)]
    pub(crate) struct Utilization {
        previous: Mutex<Option<(Instant, f64, f64)>>,
        cpus: f64,
    }

    impl Utilization {
        pub(crate) fn new() -> Self {
            Self {
                previous: Mutex::new(None),
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            }
        }

        /// `(user, system)` utilization, each in [0, 1].
        pub(crate) fn sample(&self, stat: &Stat) -> Option<(f64, f64)> {
            let now = Instant::now();
            let mut previous = self.previous.lock().unwrap_or_else(|p| p.into_inner());
            let (elapsed, user, system) = match *previous {
                Some((at, user, system)) => (
                    now.duration_since(at).as_secs_f64(),
                    stat.user - user,
                    stat.system - system,
                ),
                None => (uptime(stat)?, stat.user, stat.system),
            };
            *previous = Some((now, stat.user, stat.system));
            if elapsed <= 0.0 {
                return None;
            }
            let share = |cpu: f64| (cpu.max(0.0) / (elapsed * self.cpus)).min(1.0);
            Some((share(user), share(system)))
        }
    }

    pub(crate) fn register(meter: &Meter) {
        let user = [KeyValue::new(CPU_MODE, "user")];
        let system = [KeyValue::new(CPU_MODE, "system")];
        {
            let (user, system) = (user.clone(), system.clone());
            meter
                .f64_observable_counter("process.cpu.time")
                .with_unit("s")
                .with_description("Total CPU seconds broken down by different CPU modes.")
                .with_callback(move |o| {
                    if let Some(s) = stat() {
                        o.observe(s.user, &user);
                        o.observe(s.system, &system);
                    }
                })
                .build();
        }
        let utilization = Utilization::new();
        meter
            .f64_observable_gauge("process.cpu.utilization")
            .with_unit("1")
            .with_description(
                "Difference in process.cpu.time since the last measurement, divided by the \
                 elapsed time and number of CPUs available to the process.",
            )
            .with_callback(move |o| {
                if let Some((u, s)) = stat().and_then(|s| utilization.sample(&s)) {
                    o.observe(u, &user);
                    o.observe(s, &system);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.memory.usage")
            .with_unit("By")
            .with_description("The amount of physical memory in use.")
            .with_callback(|o| {
                if let Some(s) = stat() {
                    o.observe(s.resident_bytes, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.memory.virtual")
            .with_unit("By")
            .with_description("The amount of committed virtual memory.")
            .with_callback(|o| {
                if let Some(s) = stat() {
                    o.observe(s.virtual_bytes, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.thread.count")
            .with_unit("{thread}")
            .with_description("Process threads count.")
            .with_callback(|o| {
                if let Some(s) = stat() {
                    o.observe(s.threads, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.unix.file_descriptor.count")
            .with_unit("{file_descriptor}")
            .with_description("Number of unix file descriptors in use by the process.")
            .with_callback(|o| {
                if let Some(n) = open_descriptors() {
                    o.observe(n, &[]);
                }
            })
            .build();
        meter
            .u64_observable_counter("process.context_switches")
            .with_unit("{context_switch}")
            .with_description("Number of times the process has been context switched.")
            .with_callback(|o| {
                if let Some((voluntary, involuntary)) = context_switches() {
                    o.observe(
                        voluntary,
                        &[KeyValue::new(CONTEXT_SWITCH_TYPE, "voluntary")],
                    );
                    o.observe(
                        involuntary,
                        &[KeyValue::new(CONTEXT_SWITCH_TYPE, "involuntary")],
                    );
                }
            })
            .build();
        meter
            .f64_observable_gauge("process.uptime")
            .with_unit("s")
            .with_description("The time the process has been running.")
            .with_callback(|o| {
                if let Some(up) = stat().and_then(|s| uptime(&s)) {
                    o.observe(up, &[]);
                }
            })
            .build();
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::linux::*;

    #[test]
    fn stat_parses_a_command_name_with_spaces_and_parentheses() {
        // proc(5) fields 1..=24; the command name is `a) (b c`.
        let line = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 7 0 1200 104857600 2560 18446744073709551615";
        let s = parse_stat(line, 100.0, 4096).expect("parsed");
        assert_eq!(s.user, 2.5);
        assert_eq!(s.system, 0.5);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start, 12.0);
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(s.resident_bytes, 2560 * 4096);
        assert!(parse_stat("4242 (x) S 1 2", 100.0, 4096).is_none());
        assert!(parse_stat("garbage", 100.0, 4096).is_none());
    }

    #[test]
    fn descriptors_follow_the_files_this_process_opens() {
        const OPENED: i64 = 100;
        let before = open_descriptors().expect("/proc/self/fd");
        let files: Vec<std::fs::File> = (0..OPENED)
            .map(|_| std::fs::File::open("/proc/self/stat").expect("open"))
            .collect();
        let during = open_descriptors().expect("/proc/self/fd");
        drop(files);
        // Other test threads may open or close a few descriptors meanwhile.
        let grew = during - before;
        assert!(
            (OPENED - 10..=OPENED + 10).contains(&grew),
            "{OPENED} files opened: {before} -> {during}"
        );
    }

    #[test]
    fn threads_memory_and_cpu_time_are_this_process() {
        let before = stat().expect("/proc/self/stat");
        assert!(before.threads >= 1);
        assert!(before.virtual_bytes >= before.resident_bytes);
        assert!(before.resident_bytes > 0);
        // A thread that lives until told: the count includes it.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            ready_tx.send(()).unwrap();
            let _ = rx.recv();
        });
        ready_rx.recv().unwrap();
        let during = stat().expect("stat");
        assert!(during.threads >= 2, "{during:?}");
        tx.send(()).unwrap();
        t.join().unwrap();
        // 64 MiB written: resident memory grows by most of it.
        let mut block = vec![0u8; 64 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        std::hint::black_box(&block);
        let grown = stat().expect("stat");
        assert!(
            grown.resident_bytes >= before.resident_bytes + (32 << 20),
            "{before:?} -> {grown:?}"
        );
        drop(block);
        // CPU time is this process's: it only grows, and work makes it grow.
        let start = stat().unwrap();
        let mut x = 0u64;
        let mut now = start;
        for _ in 0..10_000 {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            now = stat().unwrap();
            if now.user + now.system > start.user + start.system {
                break;
            }
        }
        std::hint::black_box(x);
        assert!(
            now.user + now.system > start.user + start.system,
            "{start:?} {now:?}"
        );
        assert!(now.user >= start.user && now.system >= start.system);
        let up = uptime(&now).expect("/proc/uptime");
        assert!(up > 0.0);
        let (voluntary, involuntary) = context_switches().expect("/proc/self/status");
        assert!(voluntary + involuntary > 0);
        let u = Utilization::new();
        let (user, system) = u.sample(&now).expect("since start");
        assert!((0.0..=1.0).contains(&user) && (0.0..=1.0).contains(&system));
    }
}
