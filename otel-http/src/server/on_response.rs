//! Step 5a: the response head of a traced request.

use http::{HeaderValue, Response};
use otel_kit_core::opentelemetry::KeyValue;
use otel_kit_core::opentelemetry::trace::TraceContextExt;
use otel_kit_core::propagation::TraceParent;
use otel_kit_core::semconv::attribute as sc;

use super::finish::Finisher;
use crate::attributes::old;
use crate::error_type::status_error_type;

impl Finisher {
    /// Records the response head: status code, a 5xx as a failure, captured
    /// response headers and the optional `traceresponse` header.
    pub(crate) fn on_response<B>(&mut self, response: &mut Response<B>) {
        let code = response.status().as_u16();
        self.status = Some(code);
        let config = &*self.config;
        if self.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            if config.dup {
                span.set_attribute(KeyValue::new(old::HTTP_STATUS_CODE, i64::from(code)));
            }
            if !config.response_headers.is_empty() {
                span.set_attributes(config.response_headers.capture(response.headers()));
            }
        }
        let trace_response = config.trace_response;
        if code >= 500 && self.error_type.is_none() {
            self.on_failure(status_error_type(code), None, false);
        }
        if trace_response
            && let Some(tp) = TraceParent::format(self.cx.span().span_context())
            && let Ok(value) = HeaderValue::from_str(tp.as_str())
        {
            response.headers_mut().insert("traceresponse", value);
        }
    }
}
