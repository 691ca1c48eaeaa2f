//! `tokio.*` metrics from a Tokio runtime's [`RuntimeMetrics`], read at
//! collection time.
//!
//! Runtime-wide: workers, alive tasks, global queue depth (stable Tokio
//! API). Per worker (`tokio.worker.index`): busy time and parks (stable, on
//! platforms with 64-bit atomics), polls and steals (only when built with
//! `--cfg tokio_unstable`, where Tokio offers them).
//!
//! [`RuntimeMetrics`]: ::tokio::runtime::RuntimeMetrics

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio::runtime::Handle;

/// The attribute naming a worker: its index in `0..tokio.worker.count`.
pub(super) const WORKER_INDEX: &str = "tokio.worker.index";

fn worker(index: usize) -> [KeyValue; 1] {
    [KeyValue::new(WORKER_INDEX, index as i64)]
}

pub(super) fn register(meter: &Meter, handle: Handle) {
    let h = handle.clone();
    meter
        .i64_observable_up_down_counter("tokio.worker.count")
        .with_unit("{thread}")
        .with_description("Worker threads of the Tokio runtime.")
        .with_callback(move |o| o.observe(h.metrics().num_workers() as i64, &[]))
        .build();
    let h = handle.clone();
    meter
        .i64_observable_up_down_counter("tokio.task.count")
        .with_unit("{task}")
        .with_description("Tasks alive in the Tokio runtime (spawned and not finished).")
        .with_callback(move |o| o.observe(h.metrics().num_alive_tasks() as i64, &[]))
        .build();
    let h = handle.clone();
    meter
        .i64_observable_up_down_counter("tokio.global_queue.depth")
        .with_unit("{task}")
        .with_description("Tasks waiting in the Tokio runtime's global (injection) queue.")
        .with_callback(move |o| o.observe(h.metrics().global_queue_depth() as i64, &[]))
        .build();
    #[cfg(target_has_atomic = "64")]
    {
        let h = handle.clone();
        meter
            .f64_observable_counter("tokio.worker.busy_time")
            .with_unit("s")
            .with_description("Time each Tokio worker has spent polling tasks.")
            .with_callback(move |o| {
                let m = h.metrics();
                for i in 0..m.num_workers() {
                    o.observe(m.worker_total_busy_duration(i).as_secs_f64(), &worker(i));
                }
            })
            .build();
        let h = handle.clone();
        meter
            .u64_observable_counter("tokio.worker.parks")
            .with_unit("{park}")
            .with_description("Times each Tokio worker has parked (gone idle).")
            .with_callback(move |o| {
                let m = h.metrics();
                for i in 0..m.num_workers() {
                    o.observe(m.worker_park_count(i), &worker(i));
                }
            })
            .build();
    }
    #[cfg(tokio_unstable)]
    {
        let h = handle.clone();
        meter
            .u64_observable_counter("tokio.worker.polls")
            .with_unit("{poll}")
            .with_description("Tasks each Tokio worker has polled.")
            .with_callback(move |o| {
                let m = h.metrics();
                for i in 0..m.num_workers() {
                    o.observe(m.worker_poll_count(i), &worker(i));
                }
            })
            .build();
        let h = handle.clone();
        meter
            .u64_observable_counter("tokio.worker.steals")
            .with_unit("{steal}")
            .with_description("Tasks each Tokio worker has stolen from another worker.")
            .with_callback(move |o| {
                let m = h.metrics();
                for i in 0..m.num_workers() {
                    o.observe(m.worker_steal_count(i), &worker(i));
                }
            })
            .build();
    }
    drop(handle);
}
