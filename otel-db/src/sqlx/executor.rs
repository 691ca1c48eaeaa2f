//! The traced calls every sqlx `Executor` of this crate makes: a span
//! around the inner executor's stream or future.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream, StreamExt as _};
use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::context::FutureExt as _;

use super::failure::failure;
use crate::instrumentation::Instrumentation;
use crate::lexer::{Kind, Lexer};
use crate::operation::{Operation, Spec};
use crate::target::DbTarget;

/// What a traced pool and its transactions share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub target: DbTarget,
    pub instrumentation: Instrumentation,
}

impl Shared {
    /// Starts the span of `sql` under the current context. Text with
    /// placeholders (`$1`, `?`) counts as parameterized.
    pub(crate) fn start(&self, sql: &str, prepare: bool) -> Operation<'_> {
        let dialect = self.target.system().dialect();
        let statement = self.instrumentation.inner.statements(dialect).get(sql);
        let parameterized = Lexer::new(sql, dialect).any(|t| t.kind == Kind::Param);
        let mut spec = Spec::sql(&self.instrumentation, &statement, parameterized);
        if prepare {
            spec.summary = None;
            spec.operation_name = Some(Cow::Borrowed("PREPARE"));
        }
        self.instrumentation
            .start(&self.target, spec, &Context::current())
    }

    /// `inner`'s stream inside the span of `sql`; the span ends with the
    /// stream, at its first error, or when it is dropped (as `cancelled`
    /// when nothing came out yet, else as a success).
    pub(crate) fn stream<'e, T: Send + 'e>(
        &'e self,
        sql: &str,
        inner: impl FnOnce() -> BoxStream<'e, Result<T, sqlx::Error>>,
    ) -> BoxStream<'e, Result<T, sqlx::Error>> {
        let operation = self.start(sql, false);
        let cx = operation.context().clone();
        let inner = {
            let _guard = cx.clone().attach();
            inner()
        };
        Box::pin(OperationStream {
            inner,
            operation: Some(operation),
            cx,
            yielded: false,
        })
    }

    /// `inner`'s future inside the span of `sql`.
    pub(crate) fn future<'e, T: Send + 'e>(
        &'e self,
        sql: &str,
        prepare: bool,
        inner: impl FnOnce() -> BoxFuture<'e, Result<T, sqlx::Error>>,
    ) -> BoxFuture<'e, Result<T, sqlx::Error>> {
        let operation = self.start(sql, prepare);
        let cx = operation.context().clone();
        let future = {
            let _guard = cx.clone().attach();
            inner()
        };
        Box::pin(async move {
            let result = future.with_context(cx).await;
            operation.end_with(&result, failure);
            result
        })
    }
}

struct OperationStream<'e, T> {
    inner: BoxStream<'e, Result<T, sqlx::Error>>,
    operation: Option<Operation<'e>>,
    cx: Context,
    /// Whether a row or result came out: a stream dropped after that was
    /// stopped by its reader, not cancelled.
    yielded: bool,
}

impl<T> Drop for OperationStream<'_, T> {
    fn drop(&mut self) {
        if self.yielded
            && let Some(operation) = self.operation.take()
        {
            operation.end(None);
        }
        // Otherwise the operation's own drop ends it as `cancelled`.
    }
}

impl<T> Stream for OperationStream<'_, T> {
    type Item = Result<T, sqlx::Error>;

    fn poll_next(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = {
            let _guard = this.cx.clone().attach();
            this.inner.poll_next_unpin(task)
        };
        match &polled {
            Poll::Ready(Some(Err(e))) => {
                if let Some(operation) = this.operation.take() {
                    operation.end(Some(&failure(e)));
                }
            }
            Poll::Ready(None) => {
                if let Some(operation) = this.operation.take() {
                    operation.end(None);
                }
            }
            Poll::Ready(Some(Ok(_))) => this.yielded = true,
            Poll::Pending => {}
        }
        polled
    }
}
