//! The client side of the load harness: HTTP/1.1 keep-alive requests from a
//! hyper client, open loop (a fixed request rate, each request on its own
//! task, so a slow response never delays the next send) or closed loop (a
//! fixed number of workers, each sending its next request when the last
//! one is answered: the server's saturation throughput).
//!
//! Every request carries a fresh sampled `traceparent`, as one from an
//! instrumented upstream would. Latency is measured per request from the
//! moment it is handed to the client until its whole body has arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The pooled client every phase uses.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for one server (keep-alive, as many connections as requests in flight).
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// When a phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this long (requests still in flight are awaited and counted).
    After(Duration),
    /// After this many requests in total.
    Count(u64),
}

/// What one phase measured.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Requests answered with a 2xx status and a complete body.
    pub ok: u64,
    /// Requests that failed (connection error or non-2xx status).
    pub failed: u64,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time of the phase, first send to last answer.
    pub elapsed: Duration,
    /// Open loop only: how far behind its schedule the generator fell at worst.
    pub max_send_lag: Duration,
}

impl Samples {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile (0..=1) of the latencies, by nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// Trace ids for the `traceparent` of each request: unique per request.
static NEXT_TRACE: AtomicU64 = AtomicU64::new(1);

async fn one_request(client: &HttpClient, uri: &http::Uri) -> Result<Duration, ()> {
    let n = NEXT_TRACE.fetch_add(1, Ordering::Relaxed);
    let traceparent = format!("00-{:016x}{n:016x}-{n:016x}-01", 0x4bf9_2f35_77b3_4da6u64);
    let request = Request::get(uri.clone())
        .header("traceparent", traceparent)
        .body(Empty::<Bytes>::new())
        .map_err(|_| ())?;
    let start = Instant::now();
    let response = client.request(request).await.map_err(|_| ())?;
    let ok = response.status().is_success();
    response.into_body().collect().await.map_err(|_| ())?;
    if ok { Ok(start.elapsed()) } else { Err(()) }
}

fn finish(results: impl IntoIterator<Item = Result<Duration, ()>>, elapsed: Duration) -> Samples {
    let mut s = Samples {
        elapsed,
        ..Samples::default()
    };
    for r in results {
        match r {
            Ok(d) => {
                s.ok += 1;
                s.latencies.push(d);
            }
            Err(()) => s.failed += 1,
        }
    }
    s.latencies.sort_unstable();
    s
}

/// Sends `rate` requests per second to `uri` until `stop`, each on its own
/// task (at most `max_in_flight` at once; beyond that the generator waits,
/// which shows as `max_send_lag`).
pub async fn open_loop(
    client: &HttpClient,
    uri: &http::Uri,
    rate: u64,
    stop: Stop,
    max_in_flight: usize,
) -> Samples {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let count = match stop {
        Stop::Count(n) => n,
        Stop::After(d) => (d.as_secs_f64() * rate as f64).round() as u64,
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let mut tasks = Vec::with_capacity(count as usize);
    let start = Instant::now();
    let mut max_lag = Duration::ZERO;
    for i in 0..count {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        max_lag = max_lag.max(Instant::now().saturating_duration_since(due));
        let client = client.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let r = one_request(&client, &uri).await;
            drop(permit);
            r
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.unwrap_or(Err(())));
    }
    let mut s = finish(results, start.elapsed());
    s.max_send_lag = max_lag;
    s
}

/// `workers` loops each sending a request as soon as the previous one is
/// answered, until `stop`.
pub async fn closed_loop(
    client: &HttpClient,
    uri: &http::Uri,
    workers: usize,
    stop: Stop,
) -> Samples {
    let remaining = Arc::new(AtomicUsize::new(match stop {
        Stop::Count(n) => n as usize,
        Stop::After(_) => usize::MAX,
    }));
    let start = Instant::now();
    let deadline = match stop {
        Stop::After(d) => Some(start + d),
        Stop::Count(_) => None,
    };
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client.clone();
        let uri = uri.clone();
        let remaining = remaining.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let claimed = remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok();
                if !claimed {
                    break;
                }
                results.push(one_request(&client, &uri).await);
            }
            results
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => results.extend(r),
            Err(_) => results.push(Err(())),
        }
    }
    finish(results, start.elapsed())
}
