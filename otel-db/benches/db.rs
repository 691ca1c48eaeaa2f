//! otel-kit-db against the raw clients on loopback: a PostgreSQL `SELECT 1`
//! round trip (prepared statement) and a Redis `GET`, each raw, traced and
//! sampled, traced and unsampled (sampler AlwaysOff); and the wrapper alone
//! over an in-memory Redis connection that answers at once (no I/O: the
//! wrapper's own cost per call).
//!
//! ```text
//! cargo bench -p otel-kit-db --all-features --bench db -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Instruction counts of the wrapper alone (repeatable, unlike times): run
//! the bench binary with `OTEL_DB_BENCH_LOOP=<raw|sampled|unsampled>:<n>`
//! under `valgrind --tool=callgrind`; it makes `n` in-memory `GET`s and
//! exits. (traced − raw) / n is the wrapper's instructions per call.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379
//! (`OTEL_TEST_POSTGRES_URL`, `OTEL_TEST_REDIS_URL`).

use std::hint::black_box;

use criterion::Criterion;
use futures_util::FutureExt as _;
use otel_kit_core::opentelemetry_sdk::error::OTelSdkResult;
use otel_kit_core::opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use otel_kit_core::opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use otel_kit_db::Instrumentation;
use otel_kit_db::redis::TracedConnection;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Exports nothing: the benchmark measures the call path, not the network.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// The instrumentation with the SDK's providers: a batch processor whose
/// exporter does nothing, a meter provider with a periodic reader (its
/// default 60 s interval: no export during a run).
fn instrumentation(sampler: Sampler) -> (Instrumentation, SdkTracerProvider, SdkMeterProvider) {
    let tracer_provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build();
    let instrumentation = Instrumentation::builder()
        .tracer_provider(&tracer_provider)
        .meter_provider(&meter_provider)
        .build();
    (instrumentation, tracer_provider, meter_provider)
}

/// A Redis connection that answers every command at once.
#[derive(Clone)]
struct Instant;

impl ConnectionLike for Instant {
    fn req_packed_command<'a>(&'a mut self, _cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async { Ok(Value::Nil) })
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        _pipeline: &'a Pipeline,
        _offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { Ok(vec![Value::Nil; count]) })
    }
    fn get_db(&self) -> i64 {
        0
    }
}

fn get_cmd() -> Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg("user:1");
    cmd
}

fn sampler_of(mode: &str) -> Sampler {
    if mode == "unsampled" {
        Sampler::AlwaysOff
    } else {
        Sampler::AlwaysOn
    }
}

fn wrapper_alone(c: &mut Criterion) {
    let cmd = get_cmd();
    let mut group = c.benchmark_group("wrapper_alone (in-memory redis GET)");
    let mut raw = Instant;
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw.req_packed_command(&cmd).now_or_never()))
    });
    for mode in ["sampled", "unsampled"] {
        let (inst, _t, _m) = instrumentation(sampler_of(mode));
        let target = otel_kit_db::DbTarget::new(otel_kit_db::DbSystem::Redis)
            .with_namespace("0")
            .with_server("127.0.0.1", 6379);
        let mut traced = TracedConnection::new(Instant, target, inst);
        group.bench_function(mode, |b| {
            b.iter(|| black_box(traced.req_packed_command(&cmd).now_or_never()))
        });
    }
    group.finish();
}

fn postgres(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let url = std::env::var("OTEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let config: tokio_postgres::Config = url.parse().unwrap();
    let mut group = c.benchmark_group("postgres SELECT 1 (prepared, loopback)");
    let (raw, statement) = rt.block_on(async {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let statement = client.prepare("SELECT 1").await.unwrap();
        (client, statement)
    });
    group.bench_function("raw", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(raw.query_one(&statement, &[]).await.unwrap()) })
    });
    for mode in ["sampled", "unsampled"] {
        let (inst, _t, _m) = instrumentation(sampler_of(mode));
        let (client, statement) = rt.block_on(async {
            let client = otel_kit_db::postgres::connect(&config, tokio_postgres::NoTls, &inst)
                .await
                .unwrap();
            let statement = client.prepare("SELECT 1").await.unwrap();
            (client, statement)
        });
        group.bench_function(mode, |b| {
            b.to_async(rt)
                .iter(|| async { black_box(client.query_one(&statement, &[]).await.unwrap()) })
        });
    }
    group.finish();
}

fn redis_get(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let url = std::env::var("OTEL_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url).unwrap();
    let cmd = get_cmd();
    let mut group = c.benchmark_group("redis GET (multiplexed, loopback)");
    let raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    group.bench_function("raw", |b| {
        b.to_async(rt).iter(|| {
            let mut conn = raw.clone();
            let cmd = &cmd;
            async move { black_box(conn.req_packed_command(cmd).await.unwrap()) }
        })
    });
    for mode in ["sampled", "unsampled"] {
        let (inst, _t, _m) = instrumentation(sampler_of(mode));
        let traced = rt
            .block_on(TracedConnection::multiplexed(&client, &inst))
            .unwrap();
        group.bench_function(mode, |b| {
            b.to_async(rt).iter(|| {
                let mut conn = traced.clone();
                let cmd = &cmd;
                async move { black_box(conn.req_packed_command(cmd).await.unwrap()) }
            })
        });
    }
    group.finish();
}

/// `OTEL_DB_BENCH_LOOP=<raw|sampled|unsampled>:<n>`: `n` in-memory `GET`s,
/// for callgrind.
fn fixed_loop(spec: &str) {
    let (mode, n) = spec.split_once(':').expect("mode:n");
    let n: u64 = n.parse().expect("n");
    let cmd = get_cmd();
    if mode == "raw" {
        let mut raw = Instant;
        for _ in 0..n {
            black_box(raw.req_packed_command(&cmd).now_or_never());
        }
        return;
    }
    let (inst, _t, _m) = instrumentation(sampler_of(mode));
    let target = otel_kit_db::DbTarget::new(otel_kit_db::DbSystem::Redis).with_namespace("0");
    let mut traced = TracedConnection::new(Instant, target, inst);
    for _ in 0..n {
        black_box(traced.req_packed_command(&cmd).now_or_never());
    }
}

fn main() {
    if let Ok(spec) = std::env::var("OTEL_DB_BENCH_LOOP") {
        fixed_loop(&spec);
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default().configure_from_args();
    wrapper_alone(&mut c);
    postgres(&mut c, &rt);
    redis_get(&mut c, &rt);
    c.final_summary();
}
