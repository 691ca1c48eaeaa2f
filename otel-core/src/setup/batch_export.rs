//! The span batch processor the setup installs: a bounded queue drained by
//! one thread that hands batches to the export runtime.
//!
//! The SDK's `BatchSpanProcessor` moves every span through a channel, and its
//! thread receives them one by one and then blocks on each export, polling
//! it from outside the runtime that does the I/O. At saturation its queue
//! overflows now and then although the collector keeps up on average
//! (BENCHMARKS.md: at the same queue and load, the SDK's processor dropped
//! spans in each of three runs, this one in one of four). Here:
//!
//! - [`BatchExport::on_end`] takes a place from the [`SpanPipeline`] (at most
//!   `OTEL_BSP_MAX_QUEUE_SIZE` spans not yet handed to the exporter; the rest
//!   are counted as dropped) and pushes the span onto a vector behind an
//!   uncontended lock. When the queue reaches a batch it wakes the thread,
//!   once.
//! - The thread wakes on that signal or after `OTEL_BSP_SCHEDULE_DELAY`,
//!   takes the queue in one swap, cuts it into batches of
//!   `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and starts each as a task on the export
//!   runtime, with at most `OTEL_BSP_MAX_CONCURRENT_EXPORTS` exports in flight
//!   (it waits for a free slot before starting another).
//! - Memory stays bounded: the queue's spans plus the batches in flight
//!   (`max_concurrent_exports × max_export_batch_size`).
//! - `force_flush` and `shutdown` export everything queued and wait for every
//!   export in flight; `force_flush` returns the first export error since it
//!   began, `shutdown` only a timeout (failed exports are counted by the
//!   pipeline and reported by the guard).

use super::runtime::RuntimeHandle;
use super::span_pipeline::SpanPipeline;
use crate::config::BatchSettings;
use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the export thread is asked to do besides its scheduled export.
enum Message {
    /// The queue holds a full batch.
    Export,
    /// Export everything, wait for it, answer with the first error.
    Flush(SyncSender<OTelSdkResult>),
    /// Flush, shut the exporter down, answer, and stop.
    Shutdown(SyncSender<OTelSdkResult>, Duration),
    /// Give the exporter the provider's resource (before any export).
    Resource(Resource),
}

/// State shared by the processor (the spans' threads) and its export thread.
#[derive(Debug)]
struct Queue {
    spans: Mutex<Vec<SpanData>>,
    pipeline: Arc<SpanPipeline>,
    batch_size: usize,
    /// An `Export` message is on its way: later spans need not send another.
    wake_sent: AtomicBool,
    /// Set by shutdown: later spans are ignored.
    closed: AtomicBool,
}

/// Exports in flight, and the first error of those that ended since the last
/// flush began.
#[derive(Debug, Default)]
struct Inflight {
    state: Mutex<InflightState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct InflightState {
    running: usize,
    first_error: Option<OTelSdkError>,
}

impl Inflight {
    fn lock(&self) -> MutexGuard<'_, InflightState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until fewer than `max` exports run, then counts one more.
    fn acquire(self: &Arc<Self>, max: usize) -> Slot {
        let mut state = self.lock();
        while state.running >= max {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.running += 1;
        Slot {
            inflight: self.clone(),
            result: Err(OTelSdkError::InternalFailure(
                "the export runtime stopped before the export ran".into(),
            )),
        }
    }

    /// Waits until no export runs, at most until `deadline`; takes the first
    /// error recorded meanwhile.
    fn settle(&self, deadline: Option<Instant>) -> OTelSdkResult {
        let mut state = self.lock();
        while state.running > 0 {
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(OTelSdkError::Timeout(Duration::ZERO));
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        match state.first_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// One export's place among those in flight; freed when the export ends or
/// its task is dropped unrun (a closed runtime), recording its outcome.
struct Slot {
    inflight: Arc<Inflight>,
    result: OTelSdkResult,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.inflight.lock();
        state.running -= 1;
        if let Err(e) = std::mem::replace(&mut self.result, Ok(())) {
            state.first_error.get_or_insert(e);
        }
        drop(state);
        self.inflight.changed.notify_all();
    }
}

/// The batch span processor of one exporter (see the module docs).
#[derive(Debug)]
pub(crate) struct BatchExport {
    queue: Arc<Queue>,
    messages: SyncSender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Export => "Export",
            Message::Flush(_) => "Flush",
            Message::Shutdown(..) => "Shutdown",
            Message::Resource(_) => "Resource",
        })
    }
}

impl BatchExport {
    /// Starts the export thread. `max_concurrent_exports` of 1 keeps
    /// batches in order (the console exporter's output).
    pub(crate) fn new<E: SpanExporter + 'static>(
        exporter: E,
        settings: &BatchSettings,
        max_concurrent_exports: usize,
        rt: RuntimeHandle,
        pipeline: Arc<SpanPipeline>,
    ) -> std::io::Result<Self> {
        let queue = Arc::new(Queue {
            spans: Mutex::new(Vec::new()),
            pipeline,
            batch_size: settings.max_export_batch_size.max(1),
            wake_sent: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let (messages, inbox) = sync_channel(64);
        let worker = Worker {
            queue: queue.clone(),
            exporter: Arc::new(exporter),
            rt,
            inflight: Arc::default(),
            max_concurrent: max_concurrent_exports.max(1),
            delay: settings.schedule_delay,
            spare: Vec::with_capacity(settings.max_export_batch_size.max(1)),
        };
        let thread = std::thread::Builder::new()
            .name("otel-span-batch".into())
            .spawn(move || worker.run(inbox))?;
        Ok(Self {
            queue,
            messages,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Sends a request and waits for its answer, at most `timeout`.
    fn ask(
        &self,
        message: impl FnOnce(SyncSender<OTelSdkResult>) -> Message,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (reply, answer) = sync_channel(1);
        match self.messages.try_send(message(reply)) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
            Err(TrySendError::Full(m)) => {
                // Rare (64 messages waiting, each handled in a moment):
                // wait for room.
                if self.messages.send(m).is_err() {
                    return Err(OTelSdkError::AlreadyShutdown);
                }
            }
        }
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for BatchExport {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // A recording but unsampled span (a `RecordOnly` decision) is never
        // exported, so it takes no place.
        if !span.span_context.is_sampled() || self.queue.closed.load(Ordering::Relaxed) {
            return;
        }
        if !self.queue.pipeline.admit() {
            return;
        }
        let queued = {
            let mut spans = self.queue.spans.lock().unwrap_or_else(|p| p.into_inner());
            // Checked again under the lock: the shutdown's last export takes
            // this lock after `closed` is set, so a span that raced the check
            // above is either in that export or refused here, never left
            // behind holding a queue place.
            if self.queue.closed.load(Ordering::Relaxed) {
                drop(spans);
                self.queue.pipeline.withdraw();
                return;
            }
            spans.push(span);
            spans.len()
        };
        if queued >= self.queue.batch_size
            && !self.queue.wake_sent.load(Ordering::Relaxed)
            && !self.queue.wake_sent.swap(true, Ordering::AcqRel)
            && self.messages.try_send(Message::Export).is_err()
        {
            // The thread is busy with 64 messages or gone: its next round
            // (at the latest the scheduled one) takes these spans.
            self.queue.wake_sent.store(false, Ordering::Release);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        if self.queue.closed.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.ask(Message::Flush, Duration::from_secs(5))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.queue.closed.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let result = self.ask(|reply| Message::Shutdown(reply, timeout), timeout);
        if result
            .as_ref()
            .err()
            .is_none_or(|e| !matches!(e, OTelSdkError::Timeout(_)))
        {
            let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
        self.queue.pipeline.report_totals();
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.messages.try_send(Message::Resource(resource.clone()));
    }
}

/// The export thread's state.
struct Worker<E> {
    queue: Arc<Queue>,
    exporter: Arc<E>,
    rt: RuntimeHandle,
    inflight: Arc<Inflight>,
    max_concurrent: usize,
    delay: Duration,
    /// An empty vector with room for a batch, swapped in for the queue.
    spare: Vec<SpanData>,
}

impl<E: SpanExporter + 'static> Worker<E> {
    fn run(mut self, inbox: Receiver<Message>) {
        // Nothing this thread does may become telemetry.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut last_round = Instant::now();
        loop {
            let wait = self.delay.saturating_sub(last_round.elapsed());
            match inbox.recv_timeout(wait) {
                Ok(Message::Export) => {
                    self.queue.wake_sent.store(false, Ordering::Release);
                    self.export_queued();
                    last_round = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.export_queued();
                    last_round = Instant::now();
                }
                Ok(Message::Flush(reply)) => {
                    let _ = reply.send(self.flush(None));
                    last_round = Instant::now();
                }
                Ok(Message::Shutdown(reply, timeout)) => {
                    let deadline = Instant::now() + timeout;
                    // A failed final export is counted by the pipeline and
                    // reported by the guard with its span count; only a
                    // flush that ran out of time fails the shutdown.
                    let flushed = match self.flush(Some(deadline)) {
                        Err(e @ OTelSdkError::Timeout(_)) => Err(e),
                        _ => Ok(()),
                    };
                    let left = deadline.saturating_duration_since(Instant::now());
                    let closed = self.exporter.shutdown_with_timeout(left);
                    let _ = reply.send(flushed.and(closed));
                    return;
                }
                Ok(Message::Resource(resource)) => {
                    // Sent while the provider is built, before any export;
                    // wait for exports in flight anyway so no one shares it.
                    let _ = self.inflight.settle(None);
                    if let Some(exporter) = Arc::get_mut(&mut self.exporter) {
                        exporter.set_resource(&resource);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // The processor was dropped without a shutdown.
                    let _ = self.flush(None);
                    return;
                }
            }
        }
    }

    /// Starts an export for every batch in the queue (the last one may be
    /// partial). The queue gets the spare vector, allocated beforehand with
    /// room for a batch, so spans are pushed without reallocating; a queue of
    /// at most one batch is handed to the exporter as it is, without a copy.
    fn export_queued(&mut self) {
        let batch = self.queue.batch_size;
        let mut spans = {
            let mut queue = self.queue.spans.lock().unwrap_or_else(|p| p.into_inner());
            if queue.is_empty() {
                return;
            }
            std::mem::replace(&mut *queue, std::mem::take(&mut self.spare))
        };
        if spans.len() <= batch {
            self.spare = Vec::with_capacity(batch);
            self.start(spans);
            return;
        }
        let mut taken = spans.drain(..);
        loop {
            let next: Vec<SpanData> = taken.by_ref().take(batch).collect();
            if next.is_empty() {
                break;
            }
            self.start(next);
        }
        drop(taken);
        // The emptied vector, with room for more than a batch, is the next spare.
        self.spare = spans;
    }

    /// Starts one export on the export runtime once a slot is free.
    fn start(&self, batch: Vec<SpanData>) {
        let mut slot = self.inflight.acquire(self.max_concurrent);
        let exporter = self.exporter.clone();
        self.rt.spawn(async move {
            slot.result = exporter.export(batch).await;
            drop(slot);
        });
    }

    /// Exports everything queued and waits for every export in flight.
    fn flush(&mut self, deadline: Option<Instant>) -> OTelSdkResult {
        // Errors of exports that ended before the flush are not its own.
        self.inflight.lock().first_error = None;
        self.export_queued();
        self.inflight.settle(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::runtime::ExportRuntime;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::sync::atomic::AtomicUsize;

    fn settings(queue: usize, batch: usize, delay: Duration) -> BatchSettings {
        BatchSettings {
            schedule_delay: delay,
            export_timeout: Duration::from_secs(30),
            max_queue_size: queue,
            max_export_batch_size: batch,
            max_concurrent_exports: 1,
            queue_setting: "OTEL_BSP_MAX_QUEUE_SIZE",
        }
    }

    /// Records every batch; each export waits until `open` allows it and
    /// notes how many exports ran at once.
    #[derive(Debug)]
    struct Recorder {
        batches: Mutex<Vec<Vec<String>>>,
        open: tokio::sync::Semaphore,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
        fail: AtomicBool,
        resource: Mutex<Option<Resource>>,
        shut_down: AtomicBool,
    }

    impl Default for Recorder {
        fn default() -> Self {
            Recorder {
                batches: Mutex::default(),
                open: tokio::sync::Semaphore::new(0),
                running: AtomicUsize::new(0),
                most_at_once: AtomicUsize::new(0),
                fail: AtomicBool::new(false),
                resource: Mutex::default(),
                shut_down: AtomicBool::new(false),
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Shared(Arc<Recorder>);

    impl SpanExporter for Shared {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let r = &self.0;
            let now = r.running.fetch_add(1, Ordering::SeqCst) + 1;
            r.most_at_once.fetch_max(now, Ordering::SeqCst);
            r.open.acquire().await.expect("open").forget();
            r.running.fetch_sub(1, Ordering::SeqCst);
            r.batches
                .lock()
                .unwrap()
                .push(batch.iter().map(|s| s.name.to_string()).collect());
            if r.fail.load(Ordering::SeqCst) {
                return Err(OTelSdkError::InternalFailure(
                    "collector unavailable".into(),
                ));
            }
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            self.0.shut_down.store(true, Ordering::SeqCst);
            Ok(())
        }
        fn set_resource(&mut self, resource: &Resource) {
            *self.0.resource.lock().unwrap() = Some(resource.clone());
        }
    }

    struct Setup {
        recorder: Arc<Recorder>,
        pipeline: Arc<SpanPipeline>,
        provider: SdkTracerProvider,
        _rt: ExportRuntime,
    }

    fn setup(settings: BatchSettings, concurrent: usize) -> Setup {
        let rt = ExportRuntime::start().unwrap();
        let recorder = Arc::new(Recorder::default());
        let pipeline = SpanPipeline::new("test", settings.max_queue_size, None);
        let exporter = super::super::span_pipeline::CountedExporter {
            inner: Shared(recorder.clone()),
            pipeline: pipeline.clone(),
        };
        let processor = BatchExport::new(
            exporter,
            &settings,
            concurrent,
            rt.handle(),
            pipeline.clone(),
        )
        .unwrap();
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_attribute(KeyValue::new("service.name", "batch-test"))
                    .build(),
            )
            .with_span_processor(processor)
            .build();
        Setup {
            recorder,
            pipeline,
            provider,
            _rt: rt,
        }
    }

    fn end_spans(provider: &SdkTracerProvider, n: usize) {
        let tracer = provider.tracer("t");
        for i in 0..n {
            tracer.in_span(format!("s{i}"), |_| {});
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_full_batch_goes_out_before_the_delay_and_exports_run_side_by_side() {
        let s = setup(settings(4096, 100, Duration::from_secs(3600)), 2);
        end_spans(&s.provider, 400);
        // Four batches' worth, an hour before the scheduled export: two run
        // at once, the others wait for a slot.
        wait_for("two exports in flight", || {
            s.recorder.running.load(Ordering::SeqCst) == 2
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(s.recorder.most_at_once.load(Ordering::SeqCst), 2);
        s.recorder.open.add_permits(1000);
        assert_eq!(s.recorder.most_at_once.load(Ordering::SeqCst), 2);
        // (A remainder below a batch would wait for the schedule.)
        s.provider.force_flush().unwrap();
        let batches = s.recorder.batches.lock().unwrap().clone();
        assert!(batches.iter().all(|b| b.len() <= 100), "{batches:?}");
        let mut names: Vec<String> = batches.into_iter().flatten().collect();
        names.sort_by_key(|n| n[1..].parse::<usize>().unwrap());
        let expected: Vec<String> = (0..400).map(|i| format!("s{i}")).collect();
        assert_eq!(names, expected, "every span exactly once");
        assert_eq!(s.pipeline.queued(), 0);
        assert_eq!(s.pipeline.released(), 400);
    }

    #[test]
    fn one_export_at_a_time_when_asked() {
        let s = setup(settings(4096, 10, Duration::from_secs(3600)), 1);
        end_spans(&s.provider, 50);
        wait_for("one export in flight", || {
            s.recorder.running.load(Ordering::SeqCst) == 1
        });
        std::thread::sleep(Duration::from_millis(50));
        s.recorder.open.add_permits(100);
        s.provider.force_flush().unwrap();
        assert_eq!(s.recorder.most_at_once.load(Ordering::SeqCst), 1);
        let names: Vec<String> = s.recorder.batches.lock().unwrap().concat();
        let expected: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
        assert_eq!(names, expected, "in order");
    }

    #[test]
    fn the_scheduled_export_takes_a_partial_batch_and_flush_waits_for_it() {
        let s = setup(settings(2048, 512, Duration::from_millis(20)), 2);
        s.recorder.open.add_permits(1000);
        end_spans(&s.provider, 7);
        wait_for("the scheduled export", || {
            s.recorder.batches.lock().unwrap().len() == 1
        });
        assert_eq!(s.recorder.batches.lock().unwrap()[0].len(), 7);
        // flush: what is queued goes out and the call returns after it.
        end_spans(&s.provider, 1100);
        s.provider.force_flush().unwrap();
        let sizes: usize = s
            .recorder
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(sizes, 1107);
        assert!(
            s.recorder
                .batches
                .lock()
                .unwrap()
                .iter()
                .all(|b| b.len() <= 512),
            "no batch above OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
        );
    }

    #[test]
    fn flush_returns_the_failure_of_an_export_and_the_spans_are_counted() {
        let s = setup(settings(2048, 512, Duration::from_secs(3600)), 2);
        s.recorder.open.add_permits(1000);
        s.recorder.fail.store(true, Ordering::SeqCst);
        end_spans(&s.provider, 3);
        let err = s.provider.force_flush().unwrap_err();
        assert!(err.to_string().contains("collector unavailable"), "{err}");
        assert_eq!(s.pipeline.stats().spans_failed, 3);
        // The next flush reports only its own exports.
        s.recorder.fail.store(false, Ordering::SeqCst);
        end_spans(&s.provider, 2);
        s.provider.force_flush().unwrap();
        assert_eq!(s.pipeline.stats().spans_failed, 3);
    }

    #[test]
    fn drops_are_exact_while_exports_are_stuck() {
        let s = setup(settings(8, 4, Duration::from_millis(5)), 2);
        const ENDED: usize = 500;
        end_spans(&s.provider, ENDED);
        // At most 8 spans wait for the exporter (queued, or taken for a batch
        // whose export has not started) besides the two stuck batches of 4:
        // every other span is dropped.
        let stats = s.pipeline.stats();
        assert!(
            stats.spans_dropped >= (ENDED - 8 - 2 * 4) as u64,
            "{stats:?}"
        );
        s.recorder.open.add_permits(1000);
        s.provider.force_flush().unwrap();
        let exported: usize = s
            .recorder
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(
            exported as u64 + s.pipeline.stats().spans_dropped,
            ENDED as u64
        );
        assert_eq!(s.pipeline.queued(), 0);
    }

    #[test]
    fn shutdown_exports_the_queue_shuts_the_exporter_down_and_ignores_later_spans() {
        let s = setup(settings(2048, 512, Duration::from_secs(3600)), 2);
        s.recorder.open.add_permits(1000);
        end_spans(&s.provider, 5);
        s.provider.shutdown().unwrap();
        assert_eq!(s.recorder.batches.lock().unwrap().concat().len(), 5);
        assert!(s.recorder.shut_down.load(Ordering::SeqCst));
        let resource = s
            .recorder
            .resource
            .lock()
            .unwrap()
            .clone()
            .expect("resource");
        assert_eq!(
            resource
                .get(&opentelemetry::Key::from_static_str("service.name"))
                .map(|v| v.to_string())
                .as_deref(),
            Some("batch-test")
        );
        end_spans(&s.provider, 5);
        assert_eq!(s.pipeline.queued(), 0);
        assert_eq!(s.pipeline.stats().spans_dropped, 0);
    }

    /// One sampled span's export data.
    fn span_data() -> SpanData {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        provider.tracer("t").in_span("raced", |_| {});
        exporter.get_finished_spans().unwrap().remove(0)
    }

    #[test]
    fn a_span_ending_during_shutdown_is_exported_or_refused_never_left_queued() {
        let span = span_data();
        for round in 0..200 {
            let rt = ExportRuntime::start().unwrap();
            let recorder = Arc::new(Recorder::default());
            recorder.open.add_permits(1 << 20);
            let pipeline = SpanPipeline::new("test", 1 << 20, None);
            let exporter = super::super::span_pipeline::CountedExporter {
                inner: Shared(recorder.clone()),
                pipeline: pipeline.clone(),
            };
            let settings = settings(1 << 20, 512, Duration::from_secs(3600));
            let processor = Arc::new(
                BatchExport::new(exporter, &settings, 1, rt.handle(), pipeline.clone()).unwrap(),
            );
            let started = Arc::new(std::sync::Barrier::new(4));
            let enders: Vec<_> = (0..3)
                .map(|_| {
                    let (processor, span, started) =
                        (processor.clone(), span.clone(), started.clone());
                    std::thread::spawn(move || {
                        started.wait();
                        while !processor.queue.closed.load(Ordering::Relaxed) {
                            processor.on_end(span.clone());
                        }
                        // A few more, racing the shutdown's last export.
                        for _ in 0..100 {
                            processor.on_end(span.clone());
                        }
                    })
                })
                .collect();
            started.wait();
            std::thread::sleep(Duration::from_micros(200 + round * 7));
            processor
                .shutdown_with_timeout(Duration::from_secs(10))
                .unwrap();
            for t in enders {
                t.join().unwrap();
            }
            let exported: usize = recorder.batches.lock().unwrap().iter().map(Vec::len).sum();
            assert_eq!(pipeline.queued(), 0, "round {round}: a span kept its place");
            assert_eq!(pipeline.released(), exported as u64, "round {round}");
            assert_eq!(pipeline.stats().spans_dropped, 0);
        }
    }

    #[test]
    fn shutdown_gives_up_after_its_timeout() {
        let s = setup(settings(2048, 512, Duration::from_secs(3600)), 2);
        end_spans(&s.provider, 5);
        // The export never completes: shutdown answers within its timeout.
        let started = Instant::now();
        let err = s
            .provider
            .shutdown_with_timeout(Duration::from_millis(100))
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(err.to_string().to_lowercase().contains("time"), "{err}");
        s.recorder.open.add_permits(1000);
    }
}
