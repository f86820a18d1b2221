//! `MAMBA_COST_RATES`: cost rates for real model names, which contain `-`, `.`, `/` and `:` and
//! so cannot be spelled as environment variable names.
//!
//! Two forms are accepted: a JSON object (`{"my-custom-model": 0.001}`) and a list
//! (`my-custom-model=0.001,openai/gpt-4.1=0.002`). Rates stay text here (JSON numbers keep their
//! digits, never passing through `f64`); the settings reader turns them into `Decimal`s and
//! validates them like rates from any other source.

use std::collections::BTreeMap;

use config::{Value, ValueKind};
use serde_json::value::RawValue;

use crate::{Origin, SettingsError};

/// The name of the variable.
pub(crate) const COST_RATES_VAR: &str = "MAMBA_COST_RATES";

const EXPECTED: &str = "a JSON object of model names to rates per 1,000 tokens \
    ({\"my-custom-model\": 0.001}) or a list `name=rate,name=rate`";

/// Parses the variable's text into model names and rate text, in the order written.
pub(crate) fn parse_cost_rates(
    text: &str,
    origin: &Origin,
) -> Result<Vec<(String, Value)>, SettingsError> {
    let invalid = |problem: String| SettingsError::InvalidValue {
        key: "cost_rates".to_owned(),
        origin: origin.clone(),
        problem,
        expected: EXPECTED.to_owned(),
    };
    let text = text.trim();
    if text.starts_with('{') {
        let object: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| invalid(format!("malformed JSON ({e})")))?;
        return object
            .into_iter()
            .map(|(model, raw)| {
                let raw = raw.get().trim();
                let rate = match serde_json::from_str::<serde_json::Value>(raw) {
                    // A JSON number keeps its exact digits; a string is taken as written.
                    Ok(serde_json::Value::Number(_)) => raw.to_owned(),
                    Ok(serde_json::Value::String(text)) => text,
                    _ => {
                        return Err(invalid(format!(
                            "the rate of `{model}` is {raw}, not a number"
                        )));
                    }
                };
                Ok((model, Value::new(None, ValueKind::String(rate))))
            })
            .collect();
    }
    let mut rates = Vec::new();
    for item in text.split([',', '\n']).map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let Some((model, rate)) = item.rsplit_once('=') else {
            return Err(invalid(format!("`{item}` is not `name=rate`")));
        };
        let model = model.trim();
        if model.is_empty() {
            return Err(invalid(format!("`{item}` has no model name")));
        }
        rates.push((
            model.to_owned(),
            Value::new(None, ValueKind::String(rate.trim().to_owned())),
        ));
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        parse_cost_rates(
            text,
            &Origin::Env {
                var: COST_RATES_VAR.to_owned(),
            },
        )
        .map(|rates| {
            rates
                .into_iter()
                .map(|(model, value)| (model, value.into_string().unwrap_or_default()))
                .collect()
        })
        .map_err(|e| e.to_string())
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn json_numbers_keep_their_digits() {
        let rates =
            parse(r#"{"my-custom-model": 0.001, "openai/gpt-4.1": "0.002", "llama3:8b": 1e-4}"#);
        assert_eq!(
            rates,
            Ok(owned(&[
                ("llama3:8b", "1e-4"),
                ("my-custom-model", "0.001"),
                ("openai/gpt-4.1", "0.002"),
            ]))
        );
    }

    #[test]
    fn lists_accept_every_model_name_character() {
        let rates = parse(" my-custom-model=0.001, openai/gpt-4.1 = 0.002,llama3:8b=0,\n");
        assert_eq!(
            rates,
            Ok(owned(&[
                ("my-custom-model", "0.001"),
                ("openai/gpt-4.1", "0.002"),
                ("llama3:8b", "0"),
            ]))
        );
        assert_eq!(parse(""), Ok(Vec::new()));
    }

    #[test]
    fn malformed_values_are_named() {
        let cases = [
            (
                "{\"a\": 0.1,}",
                "invalid `cost_rates` from environment variable MAMBA_COST_RATES: malformed JSON \
                 (trailing comma at line 1 column 11)",
            ),
            (
                "{\"a\": null}",
                "invalid `cost_rates` from environment variable MAMBA_COST_RATES: the rate of `a` \
                 is null, not a number",
            ),
            (
                "a=0.1,b",
                "invalid `cost_rates` from environment variable MAMBA_COST_RATES: `b` is not \
                 `name=rate`",
            ),
            (
                "=0.1",
                "invalid `cost_rates` from environment variable MAMBA_COST_RATES: `=0.1` has no \
                 model name",
            ),
        ];
        for (text, message) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.split("; expected").next(), Some(message), "{text}");
        }
    }
}
