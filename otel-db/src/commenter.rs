//! sqlcommenter: the span's context appended to SQL text as a comment
//! (`/*traceparent='00-…-…-01'*/`), so the database's own logs and
//! `pg_stat_activity` name the trace. Opt-in:
//! [`InstrumentationBuilder::sql_commenter`](crate::InstrumentationBuilder::sql_commenter).

use std::borrow::Cow;
use std::fmt::Write as _;

use otel_kit_core::opentelemetry::Context;
use otel_kit_core::opentelemetry::trace::TraceContextExt;

use crate::lexer::{Dialect, Kind, Lexer};

/// `sql` with the context of `cx`'s span appended as a sqlcommenter
/// comment; `sql` unchanged when the span context is invalid or the text
/// already holds a comment (sqlcommenter: never alter a commented
/// statement).
pub(crate) fn comment<'a>(sql: &'a str, cx: &Context, dialect: Dialect) -> Cow<'a, str> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() || Lexer::new(sql, dialect).any(|t| t.kind == Kind::Comment) {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 80);
    out.push_str(sql.trim_end());
    let _ = write!(
        out,
        " /*traceparent='00-{}-{}-{:02x}'",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    let state = sc.trace_state().header();
    if !state.is_empty() {
        out.push_str(",tracestate='");
        for b in state.bytes() {
            // sqlcommenter: URL-encode the value, then escape quotes.
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out.push('\'');
    }
    out.push_str("*/");
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_kit_core::opentelemetry::trace::{
        SpanContext, SpanId, TraceFlags, TraceId, TraceState,
    };

    fn cx(state: TraceState) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::SAMPLED,
            true,
            state,
        ))
    }

    #[test]
    fn appends_traceparent_and_tracestate() {
        assert_eq!(
            comment("SELECT 1 ", &cx(TraceState::NONE), Dialect::Postgres),
            "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"
        );
        let state = TraceState::from_key_value([("congo", "t61rcWkgMzE")]).unwrap();
        assert_eq!(
            comment("SELECT 1", &cx(state), Dialect::Postgres),
            "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',tracestate='congo%3Dt61rcWkgMzE'*/"
        );
    }

    #[test]
    fn leaves_commented_text_and_invalid_contexts_alone() {
        assert_eq!(
            comment(
                "SELECT 1 /* mine */",
                &cx(TraceState::NONE),
                Dialect::Postgres
            ),
            "SELECT 1 /* mine */"
        );
        assert_eq!(
            comment("SELECT 1", &Context::new(), Dialect::Postgres),
            "SELECT 1"
        );
        // A comment marker inside a string is not a comment.
        assert!(
            comment("SELECT '--'", &cx(TraceState::NONE), Dialect::Postgres)
                .contains("traceparent")
        );
    }
}
