//! Shared formatting for the console exporters: output sink, colours, durations,
//! timestamps and compact attribute values.

use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::AnyValue;
use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

/// Longest attribute value (in characters) printed before it is cut with `…`.
pub(crate) const DEFAULT_MAX_VALUE_LEN: usize = 64;

/// Where a console exporter writes, and whether it uses ANSI colours.
pub(crate) struct Sink {
    writer: Mutex<Box<dyn Write + Send>>,
    pub(crate) color: bool,
}

impl Sink {
    /// Standard output, coloured when it is a terminal and `NO_COLOR` is unset.
    pub(crate) fn stdout() -> Self {
        let color = io::stdout().is_terminal() && color_allowed_by_env();
        Self::new(Box::new(io::stdout()), color)
    }

    /// Standard error, coloured when it is a terminal and `NO_COLOR` is unset.
    pub(crate) fn stderr() -> Self {
        let color = io::stderr().is_terminal() && color_allowed_by_env();
        Self::new(Box::new(io::stderr()), color)
    }

    /// Any writer; never coloured unless asked for.
    pub(crate) fn new(writer: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            writer: Mutex::new(writer),
            color,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        // A panic while writing cannot leave the writer in a state worse than a
        // half-written line, so a poisoned lock is simply taken over.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a whole chunk of text at once and flushes it.
    pub(crate) fn write_text(&self, text: &str) -> OTelSdkResult {
        if text.is_empty() {
            return Ok(());
        }
        let mut w = self.lock();
        w.write_all(text.as_bytes())
            .and_then(|()| w.flush())
            .map_err(|e| OTelSdkError::InternalFailure(format!("console exporter: {e}")))
    }

    /// Flushes the writer.
    pub(crate) fn flush(&self) -> OTelSdkResult {
        self.lock()
            .flush()
            .map_err(|e| OTelSdkError::InternalFailure(format!("console exporter: {e}")))
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink").field("color", &self.color).finish()
    }
}

/// `NO_COLOR` (https://no-color.org): set and not empty disables colour.
fn color_allowed_by_env() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// ANSI styles used by the console exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Bold,
    Dim,
    Red,
    Yellow,
    Cyan,
    Green,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
            Style::Red => "\x1b[1;31m",
            Style::Yellow => "\x1b[33m",
            Style::Cyan => "\x1b[36m",
            Style::Green => "\x1b[32m",
        }
    }
}

/// Appends `text` to `out`, wrapped in `style` when `color` is on.
pub(crate) fn push_styled(out: &mut String, color: bool, style: Style, text: &str) {
    if color {
        out.push_str(style.code());
        out.push_str(text);
        out.push_str("\x1b[0m");
    } else {
        out.push_str(text);
    }
}

/// `service.name` of a resource, or `unknown_service` as the spec says.
pub(crate) fn service_name(resource: &Resource) -> String {
    resource
        .get(&Key::from_static_str("service.name"))
        .map(|v| v.as_str().into_owned())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// Human duration with three significant digits: `850ns`, `12.3µs`, `4.56ms`,
/// `1.20s`, `2m05s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    let secs = d.as_secs();
    if secs >= 60 {
        let minutes = secs / 60;
        if minutes >= 60 {
            return format!("{}h{:02}m", minutes / 60, minutes % 60);
        }
        return format!("{}m{:02}s", minutes, secs % 60);
    }
    let (value, unit) = if nanos < 1_000_000 {
        (nanos as f64 / 1e3, "µs")
    } else if nanos < 1_000_000_000 {
        (nanos as f64 / 1e6, "ms")
    } else {
        (nanos as f64 / 1e9, "s")
    };
    format!("{}{unit}", three_digits(value))
}

/// `value` (expected in 1..1000) with three significant digits.
fn three_digits(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// Duration between two instants of wall time, zero when `end` is before `start`.
pub(crate) fn elapsed(start: SystemTime, end: SystemTime) -> Duration {
    end.duration_since(start).unwrap_or_default()
}

/// RFC 3339 UTC timestamp with milliseconds: `2026-11-05T09:04:02.117Z`.
pub(crate) fn format_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Gregorian date of a day count since 1970-01-01 (proleptic calendar, eras of
/// 400 years).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((idx, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..idx])),
    }
}

/// Whether a string must be quoted to stay readable in `k=v` form.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
}

/// Appends a string value, quoted when needed and cut to `max` characters.
fn push_str_value(out: &mut String, s: &str, max: usize) {
    let s = truncate(s, max);
    if needs_quotes(&s) {
        let _ = write!(out, "{:?}", s.as_ref());
    } else {
        out.push_str(&s);
    }
}

/// Appends an attribute value in compact form.
pub(crate) fn push_value(out: &mut String, value: &Value, max: usize) {
    match value {
        Value::String(s) => push_str_value(out, s.as_str(), max),
        other => {
            let text = other.to_string();
            out.push_str(&truncate(&text, max));
        }
    }
}

/// Appends `k=v k=v …` for the given attributes (nothing when empty).
pub(crate) fn push_attributes<'a>(
    out: &mut String,
    attrs: impl IntoIterator<Item = &'a KeyValue>,
    max: usize,
) {
    let mut first = true;
    for kv in attrs {
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(kv.key.as_str());
        out.push('=');
        push_value(out, &kv.value, max);
    }
}

/// Appends a log [`AnyValue`] in compact form.
pub(crate) fn push_any_value(out: &mut String, value: &AnyValue, max: usize) {
    match value {
        AnyValue::String(s) => push_str_value(out, s.as_str(), max),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(f) => {
            let _ = write!(out, "{f}");
        }
        AnyValue::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        AnyValue::Bytes(bytes) => {
            let _ = write!(out, "<{} bytes>", bytes.len());
        }
        AnyValue::ListAny(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_any_value(out, item, max);
            }
            out.push(']');
        }
        AnyValue::Map(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k.as_str());
                out.push('=');
                push_any_value(out, v, max);
            }
            out.push('}');
        }
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_human_units() {
        assert_eq!(format_duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(format_duration(Duration::from_nanos(12_345)), "12.3µs");
        assert_eq!(format_duration(Duration::from_micros(4_560)), "4.56ms");
        assert_eq!(format_duration(Duration::from_micros(250_000)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1_200)), "1.20s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            format_duration(Duration::from_secs(3_600 * 2 + 60)),
            "2h01m"
        );
        assert_eq!(format_duration(Duration::ZERO), "0ns");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z, a leap day.
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(format_timestamp(t), "2024-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_timestamp(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn values_are_compact_quoted_and_truncated() {
        let mut out = String::new();
        push_attributes(
            &mut out,
            &[
                KeyValue::new("a", "plain"),
                KeyValue::new("b", "two words"),
                KeyValue::new("c", 42),
                KeyValue::new("d", true),
                KeyValue::new("e", ""),
            ],
            64,
        );
        assert_eq!(out, r#"a=plain b="two words" c=42 d=true e="""#);

        let mut out = String::new();
        push_value(&mut out, &Value::from("é".repeat(10)), 4);
        assert_eq!(out, "éééé…");
    }

    #[test]
    fn any_values_render_nested() {
        let mut out = String::new();
        let list = AnyValue::ListAny(Box::new(vec![AnyValue::Int(1), AnyValue::from("x y")]));
        push_any_value(&mut out, &list, 64);
        assert_eq!(out, r#"[1,"x y"]"#);
    }

    #[test]
    fn styles_only_with_color() {
        let mut plain = String::new();
        push_styled(&mut plain, false, Style::Red, "boom");
        assert_eq!(plain, "boom");
        let mut colored = String::new();
        push_styled(&mut colored, true, Style::Red, "boom");
        assert_eq!(colored, "\x1b[1;31mboom\x1b[0m");
    }
}
