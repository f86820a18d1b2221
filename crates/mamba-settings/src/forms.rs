//! The forms a setting's value can take: how each is read from a source, checked when set in
//! code, and written in a dump. Every key in [`crate::keys`] names one, so a key's rules live
//! in one place whatever the value's source.

use std::time::Duration;

use config::{Value, ValueKind};
use mamba_tokens::Encoding;
use rust_decimal::Decimal;

use crate::values::{Parsed, Problem, boolean, bounded_decimal, duration, float_in, string, whole};
use crate::{ApiKey, CompactionStrategy, LogLevel};

/// One form of value.
pub(crate) trait Form {
    /// The typed value in [`AgentSettings`](crate::AgentSettings).
    type Value: Clone + Send + Sync + 'static;

    /// Reads a value from a file, a `.env` file or the environment (where numbers and booleans
    /// arrive as text).
    fn read(&self, value: &Value) -> Parsed<Self::Value>;

    /// Checks a typed value set in code by the same rules as [`read`](Form::read).
    fn check(&self, value: &Self::Value) -> Parsed<()>;

    /// The value as TOML in a dump; `None` leaves the key out (unset).
    fn dump(&self, value: &Self::Value) -> Option<toml::Value>;
}

fn problem<T>(problem: String, expected: &str) -> Parsed<T> {
    Err(Problem {
        problem,
        expected: expected.to_owned(),
    })
}

/// Any string.
pub(crate) struct Text;

impl Form for Text {
    type Value = String;

    fn read(&self, value: &Value) -> Parsed<String> {
        string(value)
    }

    fn check(&self, _: &String) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &String) -> Option<toml::Value> {
        Some(value.clone().into())
    }
}

/// A file path (any non-empty string).
pub(crate) struct FilePath;

impl Form for FilePath {
    type Value = std::path::PathBuf;

    fn read(&self, value: &Value) -> Parsed<std::path::PathBuf> {
        let text = string(value)?;
        if text.is_empty() {
            return problem("the path is empty".to_owned(), "a file path");
        }
        Ok(text.into())
    }

    fn check(&self, path: &std::path::PathBuf) -> Parsed<()> {
        if path.as_os_str().is_empty() {
            return problem("the path is empty".to_owned(), "a file path");
        }
        Ok(())
    }

    fn dump(&self, value: &std::path::PathBuf) -> Option<toml::Value> {
        Some(value.display().to_string().into())
    }
}

/// The API key: a string that is never quoted in an error and dumps as `[redacted]`.
pub(crate) struct Secret;

impl Form for Secret {
    type Value = ApiKey;

    fn read(&self, value: &Value) -> Parsed<ApiKey> {
        match &value.kind {
            ValueKind::String(key) => Ok(ApiKey::new(key.clone())),
            _ => problem("the value is not a string".to_owned(), "a string"),
        }
    }

    fn check(&self, _: &ApiKey) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, _: &ApiKey) -> Option<toml::Value> {
        Some(ApiKey::REDACTED.into())
    }
}

/// A positive duration: seconds (`30`, `2.5`) or a humantime text (`"1m 30s"`).
pub(crate) struct Seconds;

impl Form for Seconds {
    type Value = Duration;

    fn read(&self, value: &Value) -> Parsed<Duration> {
        duration(value)
    }

    fn check(&self, value: &Duration) -> Parsed<()> {
        if value.is_zero() {
            return problem(
                "0s is zero".to_owned(),
                "a positive number of seconds or a duration such as \"90s\"",
            );
        }
        Ok(())
    }

    fn dump(&self, value: &Duration) -> Option<toml::Value> {
        Some(humantime::format_duration(*value).to_string().into())
    }
}

/// A whole number that fits `T`.
pub(crate) struct Whole<T> {
    pub(crate) expected: &'static str,
    pub(crate) marker: std::marker::PhantomData<T>,
}

/// A [`Whole`] number of type `T`, described by `expected`.
pub(crate) const fn whole_number<T>(expected: &'static str) -> Whole<T> {
    Whole {
        expected,
        marker: std::marker::PhantomData,
    }
}

impl<T> Form for Whole<T>
where
    T: TryFrom<u64> + TryInto<u64> + Copy + Send + Sync + 'static,
{
    type Value = T;

    fn read(&self, value: &Value) -> Parsed<T> {
        whole(value, self.expected)
    }

    fn check(&self, _: &T) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &T) -> Option<toml::Value> {
        (*value).try_into().ok().map(toml_int)
    }
}

/// A whole number above zero that fits `T` (tokens, records).
pub(crate) struct Positive<T> {
    pub(crate) expected: &'static str,
    marker: std::marker::PhantomData<T>,
}

/// A [`Positive`] number of type `T`, described by `expected`.
pub(crate) const fn positive<T>(expected: &'static str) -> Positive<T> {
    Positive {
        expected,
        marker: std::marker::PhantomData,
    }
}

impl<T> Form for Positive<T>
where
    T: TryFrom<u64> + TryInto<u64> + Copy + PartialEq + Default + Send + Sync + 'static,
{
    type Value = T;

    fn read(&self, value: &Value) -> Parsed<T> {
        let n = whole(value, self.expected)?;
        self.check(&n)?;
        Ok(n)
    }

    fn check(&self, value: &T) -> Parsed<()> {
        if *value == T::default() {
            return problem("0 is not positive".to_owned(), self.expected);
        }
        Ok(())
    }

    fn dump(&self, value: &T) -> Option<toml::Value> {
        (*value).try_into().ok().map(toml_int)
    }
}

/// A finite `f64` within `min..=max`.
pub(crate) struct Fraction {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) expected: &'static str,
}

impl Form for Fraction {
    type Value = f64;

    fn read(&self, value: &Value) -> Parsed<f64> {
        float_in(value, self.min, self.max, self.expected)
    }

    fn check(&self, value: &f64) -> Parsed<()> {
        let value = Value::new(None, ValueKind::Float(*value));
        float_in(&value, self.min, self.max, self.expected).map(drop)
    }

    fn dump(&self, value: &f64) -> Option<toml::Value> {
        Some((*value).into())
    }
}

/// A finite `f32` within `min..=max` (the sampling temperature).
pub(crate) struct Float32 {
    pub(crate) min: f32,
    pub(crate) max: f32,
    pub(crate) expected: &'static str,
}

impl Form for Float32 {
    type Value = f32;

    fn read(&self, value: &Value) -> Parsed<f32> {
        let f = float_in(
            value,
            f64::from(self.min),
            f64::from(self.max),
            self.expected,
        )?;
        Ok(f as f32)
    }

    fn check(&self, value: &f32) -> Parsed<()> {
        self.read(&Value::new(None, ValueKind::Float(f64::from(*value))))
            .map(drop)
    }

    fn dump(&self, value: &f32) -> Option<toml::Value> {
        // Through the f32's shortest text, so 0.7 dumps as 0.7, not 0.699999988079071.
        let shortest: f64 = value.to_string().parse().unwrap_or(f64::from(*value));
        Some(shortest.into())
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off` from the environment).
pub(crate) struct Flag;

impl Form for Flag {
    type Value = bool;

    fn read(&self, value: &Value) -> Parsed<bool> {
        boolean(value)
    }

    fn check(&self, _: &bool) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &bool) -> Option<toml::Value> {
        Some((*value).into())
    }
}

/// A tiktoken encoding name.
pub(crate) struct EncodingName;

impl Form for EncodingName {
    type Value = Encoding;

    fn read(&self, value: &Value) -> Parsed<Encoding> {
        let name = string(value)?;
        name.parse().or_else(|_| {
            let names: Vec<&str> = Encoding::ALL.iter().map(|e| e.name()).collect();
            problem(
                format!("`{name}` is not a known encoding"),
                &format!("one of {}", names.join(", ")),
            )
        })
    }

    fn check(&self, _: &Encoding) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &Encoding) -> Option<toml::Value> {
        Some(value.name().into())
    }
}

/// A value named by one of a fixed list of names (a log level, a compaction strategy).
pub(crate) trait Named:
    Copy + std::str::FromStr<Err = String> + Send + Sync + 'static
{
    /// Every value, in the order an error lists their names.
    fn all() -> &'static [Self];
    /// The name used in settings.
    fn name(self) -> &'static str;
}

impl Named for LogLevel {
    fn all() -> &'static [Self] {
        &LogLevel::ALL
    }
    fn name(self) -> &'static str {
        LogLevel::name(self)
    }
}

impl Named for CompactionStrategy {
    fn all() -> &'static [Self] {
        &CompactionStrategy::ALL
    }
    fn name(self) -> &'static str {
        CompactionStrategy::name(self)
    }
}

/// One of the names of a [`Named`] type.
pub(crate) struct OneOf<T>(std::marker::PhantomData<T>);

/// A log level name.
pub(crate) const LEVEL: OneOf<LogLevel> = OneOf(std::marker::PhantomData);
/// A compaction strategy name.
pub(crate) const STRATEGY: OneOf<CompactionStrategy> = OneOf(std::marker::PhantomData);

impl<T: Named> Form for OneOf<T> {
    type Value = T;

    fn read(&self, value: &Value) -> Parsed<T> {
        let text = string(value)?;
        text.parse::<T>().or_else(|message| {
            let names: Vec<&str> = T::all().iter().map(|value| value.name()).collect();
            problem(message, &format!("one of {}", names.join(", ")))
        })
    }

    fn check(&self, _: &T) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &T) -> Option<toml::Value> {
        Some(value.name().into())
    }
}

/// A ledger URL (`sqlite://usage.db`, `postgres://...`): checked by mamba-ledger's own parser; an error or a dump
/// never shows a password.
pub(crate) struct LedgerUrl;

impl Form for LedgerUrl {
    type Value = mamba_ledger::LedgerConfig;

    fn read(&self, value: &Value) -> Parsed<mamba_ledger::LedgerConfig> {
        let text = string(value)?;
        mamba_ledger::LedgerConfig::from_url(&text).or_else(|error| {
            let problem_text = match &error {
                mamba_ledger::LedgerError::BadUrl { url, problem } => format!("`{url}`: {problem}"),
                other => other.to_string(),
            };
            problem(problem_text, "a ledger URL such as `sqlite://usage.db`")
        })
    }

    fn check(&self, _: &mamba_ledger::LedgerConfig) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &mamba_ledger::LedgerConfig) -> Option<toml::Value> {
        Some(value.to_string().into())
    }
}

/// How durable a ledger commit is: `process` or `power_loss`.
pub(crate) struct LedgerDurability;

impl Form for LedgerDurability {
    type Value = mamba_ledger::Durability;

    fn read(&self, value: &Value) -> Parsed<mamba_ledger::Durability> {
        let text = string(value)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "process" => Ok(mamba_ledger::Durability::Process),
            "power_loss" => Ok(mamba_ledger::Durability::PowerLoss),
            _ => problem(
                format!("`{text}` is no durability"),
                "`process` or `power_loss`",
            ),
        }
    }

    fn check(&self, _: &mamba_ledger::Durability) -> Parsed<()> {
        Ok(())
    }

    fn dump(&self, value: &mamba_ledger::Durability) -> Option<toml::Value> {
        Some(
            match value {
                mamba_ledger::Durability::PowerLoss => "power_loss",
                _ => "process",
            }
            .into(),
        )
    }
}

/// A non-negative decimal amount of USD of at most `max`, read exactly (never through `f64`
/// unless the source held a float).
pub(crate) struct Usd {
    pub(crate) expected: &'static str,
    pub(crate) max: Decimal,
}

impl Form for Usd {
    type Value = Decimal;

    fn read(&self, value: &Value) -> Parsed<Decimal> {
        bounded_decimal(value, self.expected, self.max)
    }

    fn check(&self, value: &Decimal) -> Parsed<()> {
        if value.is_sign_negative() && !value.is_zero() {
            return problem(format!("{value} is negative"), self.expected);
        }
        if *value > self.max {
            let max = self.max;
            return problem(
                format!("{value} is above the largest accepted, {max}"),
                self.expected,
            );
        }
        Ok(())
    }

    fn dump(&self, value: &Decimal) -> Option<toml::Value> {
        Some(value.to_string().into())
    }
}

/// An optional value of form `F`: unset by default, and cleared by an empty value
/// (`MAMBA_MODEL_BACKEND__MAX_TOKENS=`).
pub(crate) struct Optional<F>(pub(crate) F);

impl<F: Form> Form for Optional<F> {
    type Value = Option<F::Value>;

    fn read(&self, value: &Value) -> Parsed<Option<F::Value>> {
        match &value.kind {
            ValueKind::Nil => Ok(None),
            ValueKind::String(text) if text.is_empty() => Ok(None),
            _ => self.0.read(value).map(Some),
        }
    }

    fn check(&self, value: &Option<F::Value>) -> Parsed<()> {
        value.as_ref().map_or(Ok(()), |value| self.0.check(value))
    }

    fn dump(&self, value: &Option<F::Value>) -> Option<toml::Value> {
        value.as_ref().and_then(|value| self.0.dump(value))
    }
}

/// An integer TOML value; counts beyond `i64` (never seen in practice) become strings, which
/// load back as the same number.
pub(crate) fn toml_int(n: u64) -> toml::Value {
    i64::try_from(n).map_or_else(|_| n.to_string().into(), toml::Value::from)
}

/// How a dumped value reads in the reference table: strings without their quotes.
pub(crate) fn plain(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::new(None, ValueKind::String(text.to_owned()))
    }

    #[test]
    fn code_values_meet_the_same_rules_as_read_values() {
        let margin = Fraction {
            min: 0.0,
            max: 0.5,
            expected: "x",
        };
        assert_eq!(
            margin.check(&f64::NAN).unwrap_err().problem,
            "NaN is not a number"
        );
        assert_eq!(
            margin.check(&0.7).unwrap_err().problem,
            "0.7 is out of range"
        );
        assert_eq!(
            margin.read(&s("0.7")).unwrap_err().problem,
            "`0.7` is out of range"
        );
        let tokens = positive::<u32>("x");
        assert_eq!(tokens.check(&0).unwrap_err().problem, "0 is not positive");
        assert_eq!(
            tokens.read(&s("0")).unwrap_err().problem,
            "0 is not positive"
        );
        assert_eq!(
            Seconds.check(&Duration::ZERO).unwrap_err().problem,
            "0s is zero"
        );
        let cost = Usd {
            expected: "x",
            max: Decimal::TEN,
        };
        assert_eq!(
            cost.check(&Decimal::new(-15, 1)).unwrap_err().problem,
            "-1.5 is negative"
        );
        assert_eq!(cost.check(&(Decimal::NEGATIVE_ONE * Decimal::ZERO)), Ok(()));
        assert_eq!(
            cost.check(&Decimal::new(11, 0)).unwrap_err().problem,
            "11 is above the largest accepted, 10"
        );
    }

    #[test]
    fn an_empty_value_clears_an_optional_key() {
        let tokens = Optional(positive::<u32>("x"));
        assert_eq!(tokens.read(&s("")), Ok(None));
        assert_eq!(tokens.read(&Value::new(None, ValueKind::Nil)), Ok(None));
        assert_eq!(tokens.read(&s("7")), Ok(Some(7)));
        assert_eq!(tokens.dump(&None), None);
    }

    #[test]
    fn dumps_read_back_to_the_same_value() {
        let temperature = Float32 {
            min: 0.0,
            max: 2.0,
            expected: "x",
        };
        let dumped = temperature.dump(&0.7).unwrap();
        assert_eq!(dumped.as_float(), Some(0.7));
        let back = Value::new(None, ValueKind::Float(0.7));
        assert_eq!(temperature.read(&back), Ok(0.7));
        let timeout = Duration::new(90, 1);
        let text = plain(&Seconds.dump(&timeout).unwrap());
        assert_eq!(Seconds.read(&s(&text)), Ok(timeout));
    }
}
