//! `async_nats::HeaderMap` as an OpenTelemetry injector / extractor.

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use otel_core::opentelemetry::propagation::{Extractor, Injector};

use crate::common::MAX_HEADER_VALUE_LEN;

/// Writes propagation fields into NATS headers, replacing any previous value
/// of the same field. A field name or value NATS cannot carry (control
/// characters, `:`, CR/LF) is skipped instead of panicking.
#[derive(Debug)]
pub struct NatsHeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for NatsHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_str(key), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// Reads propagation fields from NATS headers. Names match
/// case-insensitively; of duplicated fields the last value wins; values
/// longer than [`MAX_HEADER_VALUE_LEN`] are skipped.
#[derive(Debug)]
pub struct NatsHeaderExtractor<'a>(pub &'a HeaderMap);

impl NatsHeaderExtractor<'_> {
    fn values(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(name, _)| AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(key))
            .flat_map(|(_, values)| values.iter())
            .map(HeaderValue::as_str)
            .filter(|v| v.len() <= MAX_HEADER_VALUE_LEN)
    }
}

impl Extractor for NatsHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.values(key).last()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self.values(key).collect();
        (!all.is_empty()).then_some(all)
    }
}
