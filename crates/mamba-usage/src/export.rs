//! Export of history as CSV, JSON and JSON Lines, and import of JSON Lines.
//!
//! Every format uses the same stable field names (the [`CSV_HEADER`] columns); timestamps are
//! RFC 3339 in UTC with nanoseconds, so an export imports back to identical records.

use std::io::Write;

use crate::{UsageError, UsageHistory};

/// The CSV header, and the field names of the JSON forms. The `labels` column holds a
/// record's [`Labels`](crate::Labels) as `key=value;key=value` (sorted by key; `%` and `;` in
/// values escaped as `%25` and `%3B`, read back by [`Labels::parse`](crate::Labels::parse));
/// JSON writes them as an object, left out when empty.
pub const CSV_HEADER: &str = "timestamp,model,prompt_tokens,completion_tokens,total_tokens,cached_tokens,\
cache_write_tokens,reasoning_tokens,tool_name,estimated,request_id,latency_ns,provider_total_tokens,cut_off,\
cache_write_1h_tokens,service_tier,labels";

impl UsageHistory {
    /// Writes the records as CSV with a [`CSV_HEADER`] line (RFC 4180 quoting).
    ///
    /// # Errors
    /// [`UsageError::Io`] if writing fails.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// let mut csv = Vec::new();
    /// tracker.history().write_csv(&mut csv)?;
    /// let csv = String::from_utf8(csv).unwrap();
    /// let row = csv.lines().nth(1).unwrap();
    /// assert!(row.ends_with(",gpt-4o,100,50,150,0,0,0,,false,,,,false,0,,"));
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn write_csv(&self, mut writer: impl Write) -> Result<(), UsageError> {
        let io = |e| UsageError::io("writing usage CSV", e);
        writeln!(writer, "{CSV_HEADER}").map_err(io)?;
        for record in self {
            let optional = |value: Option<String>| value.unwrap_or_default();
            let row = [
                humantime::format_rfc3339_nanos(record.timestamp()).to_string(),
                csv_field(record.model()),
                record.prompt_tokens().to_string(),
                record.completion_tokens().to_string(),
                record.total_tokens().to_string(),
                record.cached_tokens().to_string(),
                record.cache_write_tokens().to_string(),
                record.reasoning_tokens().to_string(),
                optional(record.tool_name().map(csv_field)),
                record.is_estimated().to_string(),
                optional(record.request_id().map(csv_field)),
                optional(record.latency().map(|l| l.as_nanos().to_string())),
                optional(record.provider_total_tokens().map(|t| t.to_string())),
                record.is_cut_off().to_string(),
                record.cache_write_1h_tokens().to_string(),
                optional(record.service_tier().map(|tier| tier.name().to_owned())),
                csv_field(&record.labels().to_string()),
            ];
            writeln!(writer, "{}", row.join(",")).map_err(io)?;
        }
        Ok(())
    }
}

/// Quotes a CSV field when it holds a comma, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(feature = "serde")]
mod json {
    use std::collections::BTreeMap;
    use std::io::{BufRead, Write};
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use crate::{Labels, UsageError, UsageHistory, UsageRecord, UsageSummary, UsageTracker};

    /// The serialized form of a record; field names are stable across versions.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RecordRow {
        timestamp: String,
        model: String,
        prompt_tokens: u64,
        completion_tokens: u64,
        total_tokens: u64,
        #[serde(default)]
        cached_tokens: u64,
        #[serde(default)]
        cache_write_tokens: u64,
        #[serde(default)]
        reasoning_tokens: u64,
        #[serde(default)]
        tool_name: Option<String>,
        #[serde(default)]
        estimated: bool,
        #[serde(default)]
        request_id: Option<String>,
        /// Nanoseconds, exact for any `Duration`.
        #[serde(default)]
        latency_ns: Option<u128>,
        /// Microseconds, as exports before 0.1 wrote them: read, never written.
        #[serde(default, skip_serializing)]
        latency_us: Option<u64>,
        #[serde(default)]
        provider_total_tokens: Option<u64>,
        #[serde(default)]
        cut_off: bool,
        #[serde(default)]
        cache_write_1h_tokens: u64,
        #[serde(default)]
        service_tier: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    }

    impl From<UsageRecord> for RecordRow {
        fn from(record: UsageRecord) -> RecordRow {
            RecordRow {
                timestamp: humantime::format_rfc3339_nanos(record.timestamp).to_string(),
                total_tokens: record.total_tokens(),
                model: record.model.to_string(),
                prompt_tokens: record.prompt_tokens,
                completion_tokens: record.completion_tokens,
                cached_tokens: record.cached_tokens,
                cache_write_tokens: record.cache_write_tokens,
                reasoning_tokens: record.reasoning_tokens,
                tool_name: record.tool_name.as_deref().map(str::to_owned),
                estimated: record.estimated,
                request_id: record.request_id.as_deref().map(str::to_owned),
                latency_ns: record.latency.map(|l| l.as_nanos()),
                latency_us: None,
                provider_total_tokens: record.provider_total_tokens,
                cut_off: record.cut_off,
                cache_write_1h_tokens: record.cache_write_1h_tokens,
                service_tier: record.service_tier.map(|tier| tier.name().to_owned()),
                labels: record
                    .labels
                    .iter()
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
                    .collect(),
            }
        }
    }

    impl TryFrom<RecordRow> for UsageRecord {
        type Error = String;

        fn try_from(row: RecordRow) -> Result<UsageRecord, String> {
            let timestamp = humantime::parse_rfc3339(&row.timestamp)
                .map_err(|e| format!("timestamp `{}` is not RFC 3339 UTC: {e}", row.timestamp))?;
            // Totals saturate at u64::MAX, as `UsageRecord::total_tokens` does.
            let expected_total = row.prompt_tokens.saturating_add(row.completion_tokens);
            if expected_total != row.total_tokens {
                return Err(format!(
                    "total_tokens {} is not prompt_tokens {} + completion_tokens {}; a provider's \
                     differing total belongs in provider_total_tokens",
                    row.total_tokens, row.prompt_tokens, row.completion_tokens
                ));
            }
            let mut builder = UsageRecord::builder(&row.model)
                .timestamp(timestamp)
                .prompt_tokens(row.prompt_tokens)
                .completion_tokens(row.completion_tokens)
                .cached_tokens(row.cached_tokens)
                .cache_write_tokens(row.cache_write_tokens)
                .cache_write_1h_tokens(row.cache_write_1h_tokens)
                .reasoning_tokens(row.reasoning_tokens)
                .estimated(row.estimated)
                .cut_off(row.cut_off);
            if let Some(tool) = &row.tool_name {
                builder = builder.tool_name(tool);
            }
            if let Some(id) = &row.request_id {
                builder = builder.request_id(id);
            }
            if let Some(nanos) = row.latency_ns {
                builder = builder.latency(duration_from_nanos(nanos)?);
            } else if let Some(micros) = row.latency_us {
                builder = builder.latency(Duration::from_micros(micros));
            }
            if let Some(total) = row.provider_total_tokens {
                builder = builder.provider_total_tokens(total);
            }
            if let Some(tier) = &row.service_tier {
                builder = builder.service_tier(tier.parse()?);
            }
            let mut labels = Labels::new();
            for (key, value) in &row.labels {
                labels = labels.tag(key, value).map_err(|e| e.to_string())?;
            }
            builder = builder.labels(labels);
            builder.build().map_err(|e| e.to_string())
        }
    }

    /// A `Duration` of `nanos` nanoseconds, or why there is none (more than `u64::MAX` seconds).
    fn duration_from_nanos(nanos: u128) -> Result<Duration, String> {
        let seconds = u64::try_from(nanos / 1_000_000_000)
            .map_err(|_| format!("latency_ns {nanos} is longer than any duration"))?;
        let rest = u32::try_from(nanos % 1_000_000_000).unwrap_or_default();
        Ok(Duration::new(seconds, rest))
    }

    impl Serialize for UsageRecord {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            RecordRow::from(self.clone()).serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for UsageRecord {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let row = RecordRow::deserialize(deserializer)?;
            UsageRecord::try_from(row).map_err(serde::de::Error::custom)
        }
    }

    #[derive(Serialize)]
    struct Export {
        summary: UsageSummary,
        records: Vec<UsageRecord>,
    }

    impl UsageHistory {
        /// Writes one JSON object per record per line (JSON Lines).
        ///
        /// # Errors
        /// [`UsageError::Io`] if writing fails.
        ///
        /// ```
        /// let tracker = mamba_usage::UsageTracker::new();
        /// tracker.record_usage(100, 50, "gpt-4o");
        /// let mut jsonl = Vec::new();
        /// tracker.history().write_jsonl(&mut jsonl)?;
        /// let line = String::from_utf8(jsonl).unwrap();
        /// assert!(line.contains(r#""model":"gpt-4o","prompt_tokens":100,"completion_tokens":50,"total_tokens":150"#));
        /// # Ok::<(), mamba_usage::UsageError>(())
        /// ```
        pub fn write_jsonl(&self, mut writer: impl Write) -> Result<(), UsageError> {
            for record in self {
                serde_json::to_writer(&mut writer, &record)
                    .map_err(|e| UsageError::io("writing usage JSON Lines", e.into()))?;
                writeln!(writer).map_err(|e| UsageError::io("writing usage JSON Lines", e))?;
            }
            Ok(())
        }

        /// Writes `{"summary": {...}, "records": [...]}` as one JSON document.
        ///
        /// # Errors
        /// [`UsageError::Io`] if writing fails.
        ///
        /// ```
        /// let tracker = mamba_usage::UsageTracker::new();
        /// tracker.record_usage(100, 50, "gpt-4o");
        /// let mut json = Vec::new();
        /// tracker.history().write_json(&mut json)?;
        /// let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        /// assert_eq!(value["summary"]["totals"]["total_tokens"], 150);
        /// assert_eq!(value["records"][0]["model"], "gpt-4o");
        /// # Ok::<(), mamba_usage::UsageError>(())
        /// ```
        pub fn write_json(&self, writer: impl Write) -> Result<(), UsageError> {
            let export = Export {
                summary: self.summary(),
                records: self.to_vec(),
            };
            serde_json::to_writer_pretty(writer, &export)
                .map_err(|e| UsageError::io("writing usage JSON", e.into()))
        }
    }

    impl UsageTracker {
        /// Records every JSON Lines record from `reader` (blank lines are skipped); `source_name`
        /// names the data in errors. Returns how many records were added.
        ///
        /// # Errors
        /// [`UsageError::Import`] naming the line number and what is wrong with it; the records
        /// of the lines before it are kept. [`UsageError::Io`] if reading fails.
        ///
        /// ```
        /// use mamba_usage::{UsageError, UsageTracker};
        ///
        /// let data = r#"{"timestamp":"2026-11-23T22:10:03Z","model":"gpt-4o","prompt_tokens":100,"completion_tokens":50,"total_tokens":150}
        /// {"timestamp":"2026-11-23T22:11:00Z","model":"gpt-4o","prompt_tokens":-1}"#;
        /// let tracker = UsageTracker::new();
        /// let err = tracker.import_jsonl(data.as_bytes(), "usage.jsonl").unwrap_err();
        /// assert!(matches!(err, UsageError::Import { line: 2, .. }));
        /// assert!(err.to_string().starts_with("line 2 of usage.jsonl: "));
        /// assert_eq!(tracker.summary().totals.total_tokens, 150); // line 1 is kept
        /// ```
        pub fn import_jsonl(
            &self,
            reader: impl BufRead,
            source_name: &str,
        ) -> Result<usize, UsageError> {
            let mut imported = 0;
            for (index, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| UsageError::io(format!("reading {source_name}"), e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: UsageRecord =
                    serde_json::from_str(&line).map_err(|e| UsageError::Import {
                        line: index + 1,
                        source_name: source_name.to_owned(),
                        reason: e.to_string(),
                    })?;
                self.record(&record);
                imported += 1;
            }
            Ok(imported)
        }
    }
}
