//! `.env` files, read the way python-dotenv reads them (the Python library's loader), and
//! never exported to the process.
//!
//! * Lines are `NAME=value` or `export NAME=value`; blank lines and `#` comments are skipped;
//!   a UTF-8 byte-order mark is ignored.
//! * Values are unquoted (trimmed, a ` #` starts a comment), single-quoted (literal) or
//!   double-quoted (`\n`, `\t`, `\"`, `\\` escapes).
//! * `${NAME}` in unquoted and double-quoted values is replaced by a variable set earlier in the
//!   file, or else by the builder's environment (the injected map when there is one, never the
//!   real process environment behind its back); an unset name becomes empty. A `$` not followed
//!   by `{` is kept as written, so `sk-ab$cdef` stays whole.
//! * A name set twice takes its last value.
//!
//! Errors give the line number, never the line's text, which may hold a secret.

/// Why a `.env` text could not be read: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotEnvError {
    pub(crate) line: usize,
    pub(crate) reason: &'static str,
}

/// The variables of `text` in file order (a repeated name appears each time; the last wins
/// when they are applied). `environment` resolves `${NAME}` for names the file has not set.
pub(crate) fn parse(
    text: &str,
    environment: &[(String, String)],
) -> Result<Vec<(String, String)>, DotEnvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let error = |reason| DotEnvError {
            line: number,
            reason,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let assignment = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let Some((name, raw)) = assignment.split_once('=') else {
            return Err(error("is not `NAME=value`"));
        };
        let name = name.trim();
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid_name {
            return Err(error("is not `NAME=value`"));
        }
        let raw = raw.trim_start();
        let lookup = |key: &str| -> String {
            vars.iter()
                .rev()
                .chain(environment.iter().rev())
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let value = match raw.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                // A quoted value may span lines up to its closing quote.
                let mut body = raw[1..].to_owned();
                let closing = loop {
                    if let Some(end) = closing_quote(&body, quote) {
                        break end;
                    }
                    match lines.next() {
                        Some((_, next)) => {
                            body.push('\n');
                            body.push_str(next);
                        }
                        None => return Err(error("has a quote that is never closed")),
                    }
                };
                let rest = body[closing + 1..].trim();
                if !(rest.is_empty() || rest.starts_with('#')) {
                    return Err(error("has text after its closing quote"));
                }
                let inner = &body[..closing];
                if quote == '\'' {
                    inner.to_owned()
                } else {
                    substitute(&unescape(inner), &lookup)
                }
            }
            _ => {
                let value = match raw.find(" #") {
                    Some(comment) => &raw[..comment],
                    None => raw,
                };
                substitute(value.trim_end(), &lookup)
            }
        };
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

/// The byte position of the quote that closes `body` (escaped quotes skipped in `"`).
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (position, c) in body.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(position),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other @ ('"' | '\\' | '\'')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Replaces each `${NAME}` by `lookup(NAME)`; any other `$` stays.
fn substitute(text: &str, lookup: &impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&lookup(&rest[start + 2..start + 2 + length]));
        rest = &rest[start + 3 + length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_read_as_python_dotenv_reads_them() {
        let environment = env(&[("HOST", "example.org"), ("PORT", "1")]);
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=1", &[("A", "1")]),
            ("\u{feff}A=1", &[("A", "1")]),
            ("export A = spaced  ", &[("A", "spaced")]),
            ("A=sk-ab$cdef", &[("A", "sk-ab$cdef")]),
            ("A=$HOME/x", &[("A", "$HOME/x")]),
            ("A=http://${HOST}:${PORT}", &[("A", "http://example.org:1")]),
            ("A=${UNSET}x", &[("A", "x")]),
            ("A=1\nB=${A}2", &[("A", "1"), ("B", "12")]),
            ("A='${HOST} $x'", &[("A", "${HOST} $x")]),
            ("A=\"a\\nb ${HOST}\"", &[("A", "a\nb example.org")]),
            ("A=\"x # y\" # comment", &[("A", "x # y")]),
            ("A=x # comment", &[("A", "x")]),
            ("A=x#y", &[("A", "x#y")]),
            ("A=\"line1\nline2\"", &[("A", "line1\nline2")]),
            ("A=1\nA=2\nA=3", &[("A", "1"), ("A", "2"), ("A", "3")]),
            ("# c\n\n  # indented\nA=", &[("A", "")]),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse(text, &environment).unwrap(),
                env(expected),
                "{text:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_line_never_its_text() {
        let cases = [
            (
                "# comment\nMAMBA_MODEL_BACKEND__MODEL=gpt-4o\nMAMBA_MODEL",
                3,
                "is not `NAME=value`",
            ),
            ("A=1\n\n=x", 3, "is not `NAME=value`"),
            ("A=\"open\nB=2", 1, "has a quote that is never closed"),
            ("A='x' y", 1, "has text after its closing quote"),
            ("1A=x", 1, "is not `NAME=value`"),
        ];
        for (text, line, reason) in cases {
            assert_eq!(
                parse(text, &[]),
                Err(DotEnvError { line, reason }),
                "{text:?}"
            );
        }
    }
}
