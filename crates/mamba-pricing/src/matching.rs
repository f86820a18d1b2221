//! How a model name finds its price: exact name, then a normalised name, then explicit aliases.
//! Never a substring or "first prefix wins": `gpt-4o-mini` can only ever get gpt-4o-mini's price.

use std::borrow::Cow;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

/// The name with case folded, `provider/` prefixes dropped and a trailing snapshot date removed:
/// `openai/GPT-4o-2024-08-06` -> `gpt-4o`, `claude-3-5-sonnet-20241022` -> `claude-3-5-sonnet`,
/// `gpt-4-0613` -> `gpt-4`.
pub(crate) fn normalize(model: &str) -> String {
    let lower = model.trim().to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    strip_date(name).to_owned()
}

/// `model` trimmed and case-folded, borrowed when it already is (the usual case).
pub(crate) fn fold(model: &str) -> Cow<'_, str> {
    let trimmed = model.trim();
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The forms of a name to look up, most specific first: the folded name (see [`fold`]),
/// without its `provider/` prefixes, that form's alias, without its snapshot date, and that
/// form's alias (repeats left out). No allocation: every form borrows the name or the alias
/// table.
pub(crate) fn name_forms(folded: &str) -> NameForms<'_> {
    let base = folded.rsplit('/').next().unwrap_or(folded);
    let undated = strip_date(base);
    let mut forms = NameForms {
        forms: [""; 5],
        len: 0,
    };
    for form in [folded, base, alias(base), undated, alias(undated)] {
        if !forms.as_slice().contains(&form) {
            forms.forms[forms.len] = form;
            forms.len += 1;
        }
    }
    forms
}

/// Up to five forms of one name, from [`name_forms`].
pub(crate) struct NameForms<'a> {
    forms: [&'a str; 5],
    len: usize,
}

impl<'a> NameForms<'a> {
    pub(crate) fn as_slice(&self) -> &[&'a str] {
        &self.forms[..self.len]
    }
}

/// The built-in aliases, by alias.
static ALIASES: LazyLock<FxHashMap<&'static str, &'static str>> =
    LazyLock::new(|| crate::builtin::aliases().collect());

/// The table entry an explicit alias names, or the name itself.
fn alias(name: &str) -> &str {
    ALIASES.get(name).copied().unwrap_or(name)
}

/// Removes one trailing `-YYYY-MM-DD`, `-YYYYMMDD` or `-MMDD` snapshot suffix.
fn strip_date(name: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `-YYYY-MM-DD`: the last eleven bytes are a dash, 4 digits, a dash, 2, a dash, 2.
    let bytes = name.as_bytes();
    if let Some(start) = bytes.len().checked_sub(11)
        && start > 0
        && bytes[start..].iter().enumerate().all(|(i, b)| match i {
            0 | 5 | 8 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
    {
        return &name[..start];
    }
    match name.rsplit_once('-') {
        Some((rest, date)) if digits(date) && (date.len() == 8 || date.len() == 4) => rest,
        _ => name,
    }
}

/// Up to `count` of `candidates` closest to `model` by edit distance (for error messages).
pub(crate) fn closest<'a>(
    model: &str,
    candidates: impl Iterator<Item = &'a str>,
    count: usize,
) -> Vec<String> {
    let target = normalize(model);
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|name| (edit_distance(&target, name), name))
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(count)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_strips_case_providers_and_dates_only() {
        let cases = [
            ("openai/GPT-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("gpt-4-0613", "gpt-4"),
            ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
            ("gpt-4.1", "gpt-4.1"),
            ("o3-mini", "o3-mini"),
            ("gpt-4-32k", "gpt-4-32k"),
            ("model-123", "model-123"),
            ("2024-08-06", "2024-08-06"),
        ];
        for (name, expected) in cases {
            assert_eq!(normalize(name), expected, "{name}");
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("gpt-4o-mni", "gpt-4o-mini"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
