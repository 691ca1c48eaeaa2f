//! `COPY ... FROM STDIN` and `COPY ... TO STDOUT`, traced: the span lasts
//! until the data is all sent (`finish`) or all read.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use otel_kit_core::opentelemetry::Context;
use tokio_postgres::{CopyInSink, CopyOutStream, Error};

use super::failure::failure;
use crate::operation::Operation;

/// A `COPY ... FROM STDIN` in progress: send the data through it (it is a
/// `Sink` like tokio-postgres' `CopyInSink`), then [`finish`](Self::finish)
/// ends the span (`COPY users`) with the server's answer. Dropped before
/// `finish`, the copy is aborted and the span ends as `cancelled`.
pub struct TracedCopyInSink<'t, U> {
    sink: Pin<Box<CopyInSink<U>>>,
    operation: Option<Operation<'t>>,
    cx: Context,
}

impl<U> fmt::Debug for TracedCopyInSink<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedCopyInSink")
            .field("ended", &self.operation.is_none())
            .finish_non_exhaustive()
    }
}

impl<'t, U: Buf + Send + 'static> TracedCopyInSink<'t, U> {
    pub(crate) fn new(sink: CopyInSink<U>, operation: Operation<'t>) -> Self {
        let cx = operation.context().clone();
        TracedCopyInSink {
            sink: Box::pin(sink),
            operation: Some(operation),
            cx,
        }
    }

    /// Completes the copy; the number of rows copied.
    pub async fn finish(mut self) -> Result<u64, Error> {
        let result = {
            let finish = self.sink.as_mut().finish();
            otel_kit_core::opentelemetry::context::FutureExt::with_context(finish, self.cx.clone())
                .await
        };
        if let Some(operation) = self.operation.take() {
            operation.end_with(&result, failure);
        }
        result
    }

    fn end_on_error<T>(&mut self, polled: &Poll<Result<T, Error>>) {
        if let Poll::Ready(Err(e)) = polled
            && let Some(operation) = self.operation.take()
        {
            operation.end(Some(&failure(e)));
        }
    }
}

impl<U: Buf + Send + 'static> Sink<U> for TracedCopyInSink<'_, U> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let polled = {
            let _guard = self.cx.clone().attach();
            self.sink.as_mut().poll_ready(task)
        };
        self.end_on_error(&polled);
        polled
    }

    fn start_send(mut self: Pin<&mut Self>, item: U) -> Result<(), Error> {
        let result = self.sink.as_mut().start_send(item);
        if let Err(e) = &result
            && let Some(operation) = self.operation.take()
        {
            operation.end(Some(&failure(e)));
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let polled = {
            let _guard = self.cx.clone().attach();
            self.sink.as_mut().poll_flush(task)
        };
        self.end_on_error(&polled);
        polled
    }

    fn poll_close(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let polled = {
            let _guard = self.cx.clone().attach();
            self.sink.as_mut().poll_close(task)
        };
        self.end_on_error(&polled);
        polled
    }
}

/// A `COPY ... TO STDOUT` in progress: a stream of data chunks like
/// tokio-postgres' `CopyOutStream`; the span (`COPY users`) ends when the
/// stream ends or fails, or when it is dropped (`cancelled`).
pub struct TracedCopyOutStream<'t> {
    stream: Pin<Box<CopyOutStream>>,
    operation: Option<Operation<'t>>,
    cx: Context,
}

impl fmt::Debug for TracedCopyOutStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedCopyOutStream")
            .field("ended", &self.operation.is_none())
            .finish_non_exhaustive()
    }
}

impl<'t> TracedCopyOutStream<'t> {
    pub(crate) fn new(stream: CopyOutStream, operation: Operation<'t>) -> Self {
        let cx = operation.context().clone();
        TracedCopyOutStream {
            stream: Box::pin(stream),
            operation: Some(operation),
            cx,
        }
    }
}

impl Stream for TracedCopyOutStream<'_> {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let polled = {
            let _guard = self.cx.clone().attach();
            self.stream.as_mut().poll_next(task)
        };
        match &polled {
            Poll::Ready(Some(Err(e))) => {
                if let Some(operation) = self.operation.take() {
                    operation.end(Some(&failure(e)));
                }
            }
            Poll::Ready(None) => {
                if let Some(operation) = self.operation.take() {
                    operation.end(None);
                }
            }
            _ => {}
        }
        polled
    }
}
