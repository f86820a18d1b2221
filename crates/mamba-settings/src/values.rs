//! Typed values from `config` values, with the problem and the expected form when a value does
//! not fit. Strings are accepted wherever a number or boolean is (environment variables are
//! strings); money never passes through `f64` unless the source itself held a float.

use std::str::FromStr;
use std::time::Duration;

use config::{Value, ValueKind};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// Why a value does not fit, and the form that would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) problem: String,
    pub(crate) expected: String,
}

pub(crate) type Parsed<T> = Result<T, Problem>;

fn problem<T>(problem: String, expected: &str) -> Parsed<T> {
    Err(Problem {
        problem,
        expected: expected.to_owned(),
    })
}

/// How a value is quoted in an error.
pub(crate) fn shown(value: &Value) -> String {
    match &value.kind {
        ValueKind::Nil => "an empty value".to_owned(),
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::I64(n) => n.to_string(),
        ValueKind::I128(n) => n.to_string(),
        ValueKind::U64(n) => n.to_string(),
        ValueKind::U128(n) => n.to_string(),
        ValueKind::Float(f) => f.to_string(),
        ValueKind::String(s) => format!("`{s}`"),
        ValueKind::Table(_) => "a table".to_owned(),
        ValueKind::Array(_) => "a list".to_owned(),
    }
}

pub(crate) fn string(value: &Value) -> Parsed<String> {
    match &value.kind {
        ValueKind::String(s) => Ok(s.clone()),
        _ => problem(format!("{} is not a string", shown(value)), "a string"),
    }
}

/// A non-negative decimal, read exactly: decimal strings and integers as written; a float
/// (TOML `0.001`) through its shortest round-trip text, which is the literal written for up to
/// 15 significant digits.
pub(crate) fn non_negative_decimal(value: &Value, expected: &str) -> Parsed<Decimal> {
    let parsed = match &value.kind {
        ValueKind::String(text) => {
            let text = text.trim();
            Decimal::from_str(text)
                .or_else(|_| Decimal::from_scientific(text))
                .or_else(|_| problem(format!("`{text}` is not a decimal number"), expected))
        }
        ValueKind::I64(n) => Ok(Decimal::from(*n)),
        ValueKind::U64(n) => Ok(Decimal::from(*n)),
        // `From<i128>` panics beyond 96 bits; `from_i128` says so instead.
        ValueKind::I128(n) => Decimal::from_i128(*n)
            .map_or_else(|| problem(format!("{n} is out of range"), expected), Ok),
        ValueKind::U128(n) => Decimal::from_u128(*n)
            .map_or_else(|| problem(format!("{n} is out of range"), expected), Ok),
        ValueKind::Float(f) if !f.is_finite() => problem(format!("{f} is not a number"), expected),
        ValueKind::Float(f) => Decimal::from_str(&f.to_string())
            .or_else(|_| problem(format!("{f} is out of range"), expected)),
        _ => problem(format!("{} is not a number", shown(value)), expected),
    }?;
    if parsed.is_sign_negative() && !parsed.is_zero() {
        return problem(format!("{parsed} is negative"), expected);
    }
    Ok(parsed)
}

/// A non-negative decimal of at most `max`.
pub(crate) fn bounded_decimal(value: &Value, expected: &str, max: Decimal) -> Parsed<Decimal> {
    let parsed = non_negative_decimal(value, expected)?;
    if parsed > max {
        return problem(
            format!("{parsed} is above the largest accepted, {max}"),
            expected,
        );
    }
    Ok(parsed)
}

/// A whole number that fits `T`.
pub(crate) fn whole<T: TryFrom<u64>>(value: &Value, expected: &str) -> Parsed<T> {
    let n: Option<u64> = match &value.kind {
        ValueKind::I64(n) => u64::try_from(*n).ok(),
        ValueKind::U64(n) => Some(*n),
        ValueKind::I128(n) => u64::try_from(*n).ok(),
        ValueKind::U128(n) => u64::try_from(*n).ok(),
        ValueKind::String(s) => s.trim().parse().ok(),
        ValueKind::Float(f) => {
            return problem(
                format!("{f:?} is a float where a whole number is expected"),
                expected,
            );
        }
        _ => None,
    };
    n.and_then(|n| T::try_from(n).ok()).map_or_else(
        || {
            problem(
                format!("{} is not a whole number in range", shown(value)),
                expected,
            )
        },
        Ok,
    )
}

/// A finite float within `min..=max`.
pub(crate) fn float_in(value: &Value, min: f64, max: f64, expected: &str) -> Parsed<f64> {
    let f = match &value.kind {
        ValueKind::Float(f) => Some(*f),
        ValueKind::I64(n) => Some(*n as f64),
        ValueKind::U64(n) => Some(*n as f64),
        ValueKind::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        None => problem(format!("{} is not a number", shown(value)), expected),
        Some(f) if f.is_nan() => problem(format!("{} is not a number", shown(value)), expected),
        Some(f) if !(min..=max).contains(&f) => {
            problem(format!("{} is out of range", shown(value)), expected)
        }
        Some(f) => Ok(f),
    }
}

pub(crate) fn boolean(value: &Value) -> Parsed<bool> {
    const EXPECTED: &str = "true or false";
    match &value.kind {
        ValueKind::Boolean(b) => Ok(*b),
        ValueKind::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => problem(format!("`{s}` is not a boolean"), EXPECTED),
        },
        _ => problem(format!("{} is not a boolean", shown(value)), EXPECTED),
    }
}

/// A positive duration: a number of seconds, or a `humantime` string (`"90s"`, `"1m 30s"`).
pub(crate) fn duration(value: &Value) -> Parsed<Duration> {
    const EXPECTED: &str = "a positive number of seconds or a duration such as \"90s\"";
    let parsed = match &value.kind {
        ValueKind::String(s) => match s.trim().parse::<f64>() {
            Ok(seconds) => Duration::try_from_secs_f64(seconds).ok(),
            Err(_) => humantime::parse_duration(s.trim()).ok(),
        },
        ValueKind::Float(f) => Duration::try_from_secs_f64(*f).ok(),
        ValueKind::I64(n) => u64::try_from(*n).ok().map(Duration::from_secs),
        ValueKind::U64(n) => Some(Duration::from_secs(*n)),
        _ => None,
    };
    match parsed {
        Some(d) if !d.is_zero() => Ok(d),
        Some(_) => problem(format!("{} is zero", shown(value)), EXPECTED),
        None => problem(format!("{} is not a duration", shown(value)), EXPECTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: ValueKind) -> Value {
        Value::new(None, kind)
    }

    fn s(text: &str) -> Value {
        v(ValueKind::String(text.to_owned()))
    }

    #[test]
    fn decimals_are_exact_from_every_form() {
        let cases = [
            (s("0.001"), Decimal::new(1, 3)),
            (s(" 2.50 "), Decimal::new(250, 2)),
            (s("1e-4"), Decimal::new(1, 4)),
            (v(ValueKind::Float(0.001)), Decimal::new(1, 3)),
            (v(ValueKind::Float(0.1)), Decimal::new(1, 1)),
            (
                v(ValueKind::Float(123.456789012345)),
                Decimal::new(123_456_789_012_345, 12),
            ),
            (v(ValueKind::I64(3)), Decimal::new(3, 0)),
            (s("0"), Decimal::ZERO),
            (s("-0"), Decimal::ZERO),
        ];
        for (value, expected) in cases {
            assert_eq!(non_negative_decimal(&value, "x"), Ok(expected), "{value:?}");
        }
    }

    #[test]
    fn bad_decimals_say_why() {
        let cases = [
            (s("-0.5"), "-0.5 is negative"),
            (s("NaN"), "`NaN` is not a decimal number"),
            (s("abc"), "`abc` is not a decimal number"),
            (v(ValueKind::Float(f64::NAN)), "NaN is not a number"),
            (v(ValueKind::Float(-1.5)), "-1.5 is negative"),
            (v(ValueKind::Boolean(true)), "true is not a number"),
        ];
        for (value, message) in cases {
            let error = non_negative_decimal(&value, "x").unwrap_err();
            assert_eq!(error.problem, message, "{value:?}");
        }
    }

    #[test]
    fn durations_take_seconds_or_humantime() {
        assert_eq!(duration(&s("30")), Ok(Duration::from_secs(30)));
        assert_eq!(duration(&s("1.5")), Ok(Duration::from_millis(1500)));
        assert_eq!(duration(&s("1m 30s")), Ok(Duration::from_secs(90)));
        assert_eq!(duration(&v(ValueKind::I64(5))), Ok(Duration::from_secs(5)));
        assert_eq!(duration(&s("0")).unwrap_err().problem, "`0` is zero");
        assert_eq!(
            duration(&s("-1")).unwrap_err().problem,
            "`-1` is not a duration"
        );
        assert_eq!(
            duration(&s("soon")).unwrap_err().problem,
            "`soon` is not a duration"
        );
    }

    #[test]
    fn whole_numbers_and_booleans() {
        assert_eq!(whole::<u32>(&s("3"), "x"), Ok(3));
        assert_eq!(
            whole::<u32>(&v(ValueKind::I64(-1)), "x")
                .unwrap_err()
                .problem,
            "-1 is not a whole number in range"
        );
        assert_eq!(
            whole::<u32>(&s("5000000000"), "x").unwrap_err().problem,
            "`5000000000` is not a whole number in range"
        );
        assert_eq!(boolean(&s("TRUE")), Ok(true));
        assert_eq!(boolean(&s("0")), Ok(false));
        assert_eq!(
            boolean(&s("maybe")).unwrap_err().problem,
            "`maybe` is not a boolean"
        );
        assert_eq!(
            float_in(&s("nan"), 0.0, 1.0, "x").unwrap_err().problem,
            "`nan` is not a number"
        );
        assert_eq!(
            float_in(&s("0.7"), 0.0, 0.5, "x").unwrap_err().problem,
            "`0.7` is out of range"
        );
    }
}
