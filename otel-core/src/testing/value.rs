//! [`ExpectedValue`]: what assertions accept as an expected attribute value.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::{StringValue, Value};

/// A value an assertion compares an attribute with.
///
/// Implemented for [`Value`] and the Rust types attributes are made from, so
/// that integer literals work (`span.assert_attr("http.response.status_code", 200)`)
/// even though attributes store integers as `i64`. Unsigned integers too large
/// for an `i64` become `i64::MAX`.
pub trait ExpectedValue {
    /// The attribute value this stands for.
    fn into_value(self) -> Value;
}

impl ExpectedValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl ExpectedValue for &Value {
    fn into_value(self) -> Value {
        self.clone()
    }
}

impl ExpectedValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl ExpectedValue for $t {
            fn into_value(self) -> Value {
                Value::I64(i64::from(self))
            }
        }
    )*};
}
signed!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! unsigned_wide {
    ($($t:ty),*) => {$(
        impl ExpectedValue for $t {
            fn into_value(self) -> Value {
                Value::I64(i64::try_from(self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
unsigned_wide!(u64, usize);

impl ExpectedValue for f64 {
    fn into_value(self) -> Value {
        Value::F64(self)
    }
}

impl ExpectedValue for f32 {
    fn into_value(self) -> Value {
        Value::F64(f64::from(self))
    }
}

impl ExpectedValue for &str {
    fn into_value(self) -> Value {
        Value::String(StringValue::from(self.to_owned()))
    }
}

impl ExpectedValue for String {
    fn into_value(self) -> Value {
        Value::String(StringValue::from(self))
    }
}

impl ExpectedValue for &String {
    fn into_value(self) -> Value {
        Value::String(StringValue::from(self.clone()))
    }
}

impl ExpectedValue for Cow<'static, str> {
    fn into_value(self) -> Value {
        Value::String(StringValue::from(self))
    }
}

impl ExpectedValue for Arc<str> {
    fn into_value(self) -> Value {
        Value::String(StringValue::from(self))
    }
}

/// `value` as it reads in a failure message: strings quoted, others bare.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", s.as_str()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_become_attribute_values() {
        assert_eq!(200.into_value(), Value::I64(200));
        assert_eq!(7u64.into_value(), Value::I64(7));
        assert_eq!(u64::MAX.into_value(), Value::I64(i64::MAX));
        assert_eq!("GET".into_value(), Value::from("GET"));
        assert_eq!(String::from("x").into_value(), Value::from("x"));
        assert_eq!(true.into_value(), Value::Bool(true));
        assert_eq!(0.5.into_value(), Value::F64(0.5));
    }

    #[test]
    fn show_quotes_strings_only() {
        assert_eq!(show(&Value::from("a b")), "\"a b\"");
        assert_eq!(show(&Value::I64(3)), "3");
    }
}
