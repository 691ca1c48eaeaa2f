//! The instrumentation every traced client of this crate shares: providers,
//! the duration histogram, the statement caches and the options.

use std::fmt;
use std::sync::Arc;

use otel_kit_core::instrument::{
    BoundCache, ExceptionEvents, Options, SemconvArea, SpanStarter, duration_histogram, scope,
};
use otel_kit_core::opentelemetry::metrics::{BoundHistogram, Histogram, Meter};
use otel_kit_core::semconv::metric::DB_CLIENT_OPERATION_DURATION;

use crate::lexer::Dialect;
use crate::query_text::QueryText;
use crate::statement::StatementCache;

/// Bound duration histograms: how many (target, summary, operation)
/// combinations are recorded through a bound handle.
const BOUND_DURATIONS: usize = 1024;

/// What every traced client of this crate records with: the tracer and
/// meter, what `db.query.text` holds, and whether SQL carries the trace
/// context in a comment. Cheap to clone: clients share one.
///
/// ```
/// use otel_kit_db::{Instrumentation, QueryText};
/// use otel_kit_core::opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let tracer_provider = SdkTracerProvider::builder().build();
/// let instrumentation = Instrumentation::builder()
///     .tracer_provider(&tracer_provider) // default: the global providers
///     .query_text(QueryText::Sanitized)  // default: QueryText::Default
///     .sql_commenter(false)              // default: off
///     .build();
/// # let _ = instrumentation;
/// ```
#[derive(Clone)]
pub struct Instrumentation {
    pub(crate) inner: Arc<Inner>,
}

/// (target identity, name address, name length) of a bound duration.
pub(crate) type DurationKey = (usize, usize, usize);

pub(crate) struct Inner {
    pub tracer: SpanStarter,
    /// For the pool metrics.
    #[cfg_attr(
        not(any(
            feature = "deadpool-postgres",
            feature = "sqlx-postgres",
            feature = "sqlx-mysql"
        )),
        allow(dead_code)
    )]
    pub meter: Meter,
    pub duration: Histogram<f64>,
    /// Keyed by (target, name address, name length); the value keeps the
    /// target's identity alive.
    pub duration_bound: BoundCache<DurationKey, (Arc<()>, BoundHistogram<f64>)>,
    pub exceptions: ExceptionEvents,
    pub query_text: QueryText,
    pub sql_commenter: bool,
    postgres: StatementCache,
    mysql: StatementCache,
}

impl Inner {
    pub(crate) fn statements(&self, dialect: Dialect) -> &StatementCache {
        match dialect {
            Dialect::Postgres => &self.postgres,
            Dialect::MySql => &self.mysql,
        }
    }
}

impl fmt::Debug for Instrumentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumentation")
            .field("query_text", &self.inner.query_text)
            .field("sql_commenter", &self.inner.sql_commenter)
            .finish_non_exhaustive()
    }
}

impl Default for Instrumentation {
    /// [`Instrumentation::builder`]`().build()`: the global providers.
    fn default() -> Self {
        Instrumentation::builder().build()
    }
}

impl Instrumentation {
    /// The builder, with every option at its default.
    pub fn builder() -> InstrumentationBuilder {
        InstrumentationBuilder {
            options: Options::new(scope(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))),
            query_text: QueryText::Default,
            sql_commenter: false,
        }
    }

    /// What `db.query.text` holds.
    pub fn query_text(&self) -> QueryText {
        self.inner.query_text
    }

    /// Whether SQL text carries the trace context in a comment.
    pub fn sql_commenter(&self) -> bool {
        self.inner.sql_commenter
    }
}

/// Builds an [`Instrumentation`]: the family's shared setters
/// (`tracer_provider`, `meter_provider`, `logger_provider`,
/// `exception_signal`) and the database options.
pub struct InstrumentationBuilder {
    options: Options,
    query_text: QueryText,
    sql_commenter: bool,
}

impl fmt::Debug for InstrumentationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentationBuilder")
            .field("options", &self.options)
            .field("query_text", &self.query_text)
            .field("sql_commenter", &self.sql_commenter)
            .finish()
    }
}

impl InstrumentationBuilder {
    otel_kit_core::instrumentation_setters!(options: providers, exceptions);

    /// What `db.query.text` holds (default [`QueryText::Default`]:
    /// parameterized text as written, other text with its literals
    /// replaced).
    pub fn query_text(mut self, query_text: QueryText) -> Self {
        self.query_text = query_text;
        self
    }

    /// Appends the span's context to SQL text as a
    /// [sqlcommenter](https://google.github.io/sqlcommenter/spec/) comment,
    /// `/*traceparent='00-…-…-01'*/`, so the database's logs and
    /// `pg_stat_activity` show the trace (default: off).
    ///
    /// Its cost: every call's text differs, so a client that caches
    /// prepared statements by text (tokio-postgres `query(&str)` prepares
    /// an unnamed statement per call anyway; sqlx's per-connection cache,
    /// pgbouncer's and the server's plan caches) prepares again on every
    /// call. Statements the caller prepared once
    /// (`TracedClient::prepare`) are sent as prepared, without a comment.
    /// Text that already holds a comment is left as it is
    /// (sqlcommenter's rule).
    pub fn sql_commenter(mut self, on: bool) -> Self {
        self.sql_commenter = on;
        self
    }

    /// The instrumentation (global providers are read now).
    pub fn build(self) -> Instrumentation {
        let resolved = self.options.resolve(SemconvArea::None, "", "");
        Instrumentation {
            inner: Arc::new(Inner {
                tracer: resolved.tracer,
                meter: resolved.meter.clone(),
                duration: duration_histogram(
                    &resolved.meter,
                    DB_CLIENT_OPERATION_DURATION,
                    "Duration of database client operations.",
                ),
                duration_bound: BoundCache::new(BOUND_DURATIONS),
                exceptions: resolved.exceptions,
                query_text: self.query_text,
                sql_commenter: self.sql_commenter,
                postgres: StatementCache::new(Dialect::Postgres),
                mysql: StatementCache::new(Dialect::MySql),
            }),
        }
    }
}
