//! The primitive parsing rules of the SDK environment specification, each
//! reporting a [`Diagnostic`](super::Diagnostic) naming the variable and value.

use super::{Diagnostics, Environment};
use std::time::Duration;

/// The largest integer the specification allows (2^31 - 1).
const MAX_INT: u64 = i32::MAX as u64;

/// A timeout of `0` means "no limit"; this is what we use for it, since the
/// exporters and timers need a finite deadline.
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Boolean: only a case-insensitive `true` is true; anything but `false` warns.
pub(crate) fn boolean(env: &Environment, diag: &mut Diagnostics, var: &str) -> Option<bool> {
    let raw = env.get(var)?;
    if raw.eq_ignore_ascii_case("true") {
        Some(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        diag.push(
            var,
            raw,
            "not a boolean (true or false)",
            "treated as false",
        );
        Some(false)
    }
}

/// Non-negative integer in 0..=2^31-1; otherwise warn and return `None` (default).
pub(crate) fn integer(
    env: &Environment,
    diag: &mut Diagnostics,
    var: &str,
    default: u64,
) -> Option<u64> {
    let raw = env.get(var)?;
    match raw.parse::<u64>() {
        Ok(v) if v <= MAX_INT => Some(v),
        Ok(_) => {
            diag.push(
                var,
                raw,
                "out of range (0 to 2147483647)",
                format!("using the default {default}"),
            );
            None
        }
        Err(_) => {
            let problem = if raw.starts_with('-') {
                "negative"
            } else {
                "not a non-negative integer"
            };
            diag.push(var, raw, problem, format!("using the default {default}"));
            None
        }
    }
}

/// Duration in integer milliseconds; `0` is "no limit" when `zero_is_unlimited`.
pub(crate) fn millis(
    env: &Environment,
    diag: &mut Diagnostics,
    var: &str,
    default: Duration,
    zero_is_unlimited: bool,
) -> Duration {
    match integer(env, diag, var, default.as_millis() as u64) {
        Some(0) if zero_is_unlimited => NO_LIMIT,
        Some(ms) => Duration::from_millis(ms),
        None => default,
    }
}

/// A delay or interval in milliseconds that must be positive: `0` would make
/// a batch thread spin (or is silently replaced by the SDK), so it is
/// reported and the default used.
pub(crate) fn positive_millis(
    env: &Environment,
    diag: &mut Diagnostics,
    var: &str,
    default: Duration,
) -> Duration {
    match integer(env, diag, var, default.as_millis() as u64) {
        Some(0) => {
            diag.push(
                var,
                "0",
                "must be at least 1 ms",
                format!("using the default {}", default.as_millis()),
            );
            default
        }
        Some(ms) => Duration::from_millis(ms),
        None => default,
    }
}

/// A comma-separated list of case-insensitive enum names. Unknown entries warn
/// and are skipped; duplicates are removed keeping the first.
pub(crate) fn enum_list<T: PartialEq + Copy>(
    env: &Environment,
    diag: &mut Diagnostics,
    var: &str,
    parse: impl Fn(&str) -> Result<T, &'static str>,
) -> Option<Vec<T>> {
    let raw = env.get(var)?;
    let mut out = Vec::new();
    let mut understood = false;
    let mut unknown = false;
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match parse(&item.to_ascii_lowercase()) {
            Ok(v) => {
                understood = true;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Err(why) => {
                unknown = true;
                diag.push(var, raw, format!("unknown value `{item}`{why}"), "ignored");
            }
        }
    }
    // Nothing understood: the variable is ignored as a whole and the default
    // applies (only an explicit `none` turns a list off).
    if unknown && !understood {
        return None;
    }
    Some(out)
}

/// Percent-decodes `s` strictly: invalid escapes or invalid UTF-8 are errors.
pub(crate) fn percent_decode_strict(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.len() >= i + 3
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err("invalid percent-encoding");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "percent-decoded value is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &str) -> Environment {
        Environment::from_pairs([("V", v)])
    }

    #[test]
    fn booleans() {
        let cases = [
            ("true", Some(true), false),
            ("TRUE", Some(true), false),
            ("True", Some(true), false),
            ("false", Some(false), false),
            ("FaLsE", Some(false), false),
            ("1", Some(false), true),
            ("yes", Some(false), true),
            ("", None, false),
        ];
        for (raw, want, warns) in cases {
            let mut d = Diagnostics::default();
            assert_eq!(boolean(&env(raw), &mut d, "V"), want, "{raw:?}");
            assert_eq!(!d.is_empty(), warns, "{raw:?}: {d}");
        }
    }

    #[test]
    fn integers() {
        let cases = [
            ("0", Some(0), false),
            ("2147483647", Some(2147483647), false),
            ("2147483648", None, true),
            ("-1", None, true),
            ("1.5", None, true),
            ("abc", None, true),
            (" 42 ", Some(42), false),
        ];
        for (raw, want, warns) in cases {
            let mut d = Diagnostics::default();
            assert_eq!(integer(&env(raw), &mut d, "V", 7), want, "{raw:?}");
            assert_eq!(!d.is_empty(), warns, "{raw:?}");
            if warns {
                let text = d.to_string();
                assert!(text.contains("V=") && text.contains("default 7"), "{text}");
            }
        }
    }

    #[test]
    fn durations() {
        let def = Duration::from_millis(5000);
        let mut d = Diagnostics::default();
        assert_eq!(
            millis(&env("250"), &mut d, "V", def, true),
            Duration::from_millis(250)
        );
        assert_eq!(millis(&env("0"), &mut d, "V", def, true), NO_LIMIT);
        assert_eq!(millis(&env("0"), &mut d, "V", def, false), Duration::ZERO);
        assert!(d.is_empty());
        assert_eq!(millis(&env("-5"), &mut d, "V", def, true), def);
        assert_eq!(d.len(), 1);
        assert!(d.to_string().contains("negative"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode_strict("a%2Cb%3Dc").unwrap(), "a,b=c");
        assert_eq!(percent_decode_strict("caf%C3%A9").unwrap(), "café");
        assert!(percent_decode_strict("bad%2").is_err());
        assert!(percent_decode_strict("bad%zz").is_err());
        assert!(percent_decode_strict("%FF").is_err());
    }
}
