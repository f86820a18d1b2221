//! [`Labels`]: who and what a request was for (user, session, free tags), shared by every
//! record that carries them.

use std::fmt;
use std::sync::Arc;

use crate::UsageError;

/// The key [`Labels::user`] sets.
pub const USER: &str = "user";
/// The key [`Labels::session`] sets.
pub const SESSION: &str = "session";

/// Attribution labels of a request: `user`, `session` and free key/value tags (team, feature,
/// tenant ...), to break spend down by any of them ([`UsageTracker::by_label`]).
///
/// A `Labels` value is shared, not copied: cloning it, and attaching it to every record of a
/// run, copies one pointer. A record without labels costs nothing extra. Keys are sorted and
/// unique (setting a key again replaces its value); they are 1 to 64 ASCII letters, digits,
/// `_`, `-` or `.`, so every export can write them unquoted. Values are free text.
///
/// ```
/// use mamba_usage::{Labels, UsageRecord};
///
/// let labels = Labels::new().user("alice").session("s-42").tag("team", "search")?;
/// assert_eq!(labels.get("user"), Some("alice"));
/// assert_eq!(labels.to_string(), "session=s-42;team=search;user=alice");
///
/// let record = UsageRecord::builder("gpt-4o").prompt_tokens(10).labels(labels.clone()).build()?;
/// assert_eq!(record.labels(), &labels);
/// # Ok::<(), mamba_usage::UsageError>(())
/// ```
///
/// [`UsageTracker::by_label`]: crate::UsageTracker::by_label
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    /// Sorted by key, keys unique; `None` for no labels, so the empty set allocates nothing.
    /// A thin pointer (to a `Vec`, not a slice) keeps a record's place in history's label
    /// list at 16 bytes.
    pairs: Option<Arc<Vec<Pair>>>,
}

/// One label: its key and its value.
type Pair = (Arc<str>, Arc<str>);

impl Labels {
    /// No labels.
    pub const fn new() -> Labels {
        Labels { pairs: None }
    }

    /// With `user` set to `user` (the end user the request was made for).
    #[must_use]
    pub fn user(self, user: &str) -> Labels {
        self.with(USER, user)
    }

    /// With `session` set to `session` (a conversation or a job).
    #[must_use]
    pub fn session(self, session: &str) -> Labels {
        self.with(SESSION, session)
    }

    /// With the tag `key` set to `value`.
    ///
    /// ```
    /// let error = mamba_usage::Labels::new().tag("cost center", "r&d").unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "label key `cost center` is not 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`UsageError::InvalidLabel`] for an empty key, one over 64 bytes, or one with a
    /// character other than ASCII letters, digits, `_`, `-` and `.`.
    pub fn tag(self, key: &str, value: &str) -> Result<Labels, UsageError> {
        check_key(key)?;
        Ok(self.with(key, value))
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        let pairs = self.pairs();
        let index = pairs.binary_search_by(|(k, _)| k.as_ref().cmp(key)).ok()?;
        Some(&pairs[index].1)
    }

    /// The `(key, value)` pairs, sorted by key.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs()
            .iter()
            .map(|(key, value)| (key.as_ref(), value.as_ref()))
    }

    /// How many labels are set.
    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_none()
    }

    /// These labels with `over`'s on top (a run's labels over its agent's): `over` wins for
    /// a key both set.
    ///
    /// ```
    /// use mamba_usage::Labels;
    ///
    /// let agent = Labels::new().user("service").tag("team", "search")?;
    /// let run = Labels::new().user("alice");
    /// assert_eq!(agent.merged(&run).to_string(), "team=search;user=alice");
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    #[must_use]
    pub fn merged(&self, over: &Labels) -> Labels {
        match (&self.pairs, &over.pairs) {
            (_, None) => self.clone(),
            (None, Some(_)) => over.clone(),
            (Some(_), Some(_)) => over
                .iter()
                .fold(self.clone(), |labels, (key, value)| labels.with(key, value)),
        }
    }

    /// Whether two values share one allocation (a cheap test before comparing contents).
    pub(crate) fn same_allocation(&self, other: &Labels) -> bool {
        match (&self.pairs, &other.pairs) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The pairs, sorted by key.
    fn pairs(&self) -> &[Pair] {
        self.pairs.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Sets `key` (checked or known good) to `value`.
    fn with(self, key: &str, value: &str) -> Labels {
        let mut pairs: Vec<Pair> = self.pairs().to_vec();
        match pairs.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
            Ok(index) => pairs[index].1 = value.into(),
            Err(index) => pairs.insert(index, (key.into(), value.into())),
        }
        Labels {
            pairs: Some(Arc::new(pairs)),
        }
    }

    /// Reads the `key=value;key=value` form [`Display`](fmt::Display) writes.
    ///
    /// ```
    /// use mamba_usage::Labels;
    ///
    /// let labels = Labels::new().user("a;b%c").tag("team", "x=y")?;
    /// assert_eq!(labels.to_string(), "team=x=y;user=a%3Bb%25c");
    /// assert_eq!(Labels::parse(&labels.to_string())?, labels);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    ///
    /// # Errors
    /// [`UsageError::InvalidLabel`] for a pair without `=`, a bad key, a key given twice or a
    /// bad `%` escape.
    pub fn parse(text: &str) -> Result<Labels, UsageError> {
        let mut labels = Labels::new();
        if text.is_empty() {
            return Ok(labels);
        }
        for pair in text.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(UsageError::InvalidLabel {
                    key: pair.to_owned(),
                    problem: "has no `=value`".to_owned(),
                });
            };
            check_key(key)?;
            if labels.get(key).is_some() {
                return Err(UsageError::InvalidLabel {
                    key: key.to_owned(),
                    problem: "is given twice".to_owned(),
                });
            }
            labels = labels.with(key, &unescape(key, value)?);
        }
        Ok(labels)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `key=value;key=value`, sorted by key; `%` and `;` in values written as `%25` and `%3B`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{key}=")?;
            for c in value.chars() {
                match c {
                    '%' => f.write_str("%25")?,
                    ';' => f.write_str("%3B")?,
                    c => write!(f, "{c}")?,
                }
            }
        }
        Ok(())
    }
}

fn check_key(key: &str) -> Result<(), UsageError> {
    let fits = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if fits {
        Ok(())
    } else {
        Err(UsageError::InvalidLabel {
            key: key.to_owned(),
            problem: "is not 1 to 64 ASCII letters, digits, `_`, `-` or `.`".to_owned(),
        })
    }
}

fn unescape(key: &str, value: &str) -> Result<String, UsageError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("%25") => out.push('%'),
            Some("%3B" | "%3b") => out.push(';'),
            _ => {
                return Err(UsageError::InvalidLabel {
                    key: key.to_owned(),
                    problem: format!("has a value with `%` not followed by 25 or 3B: `{value}`"),
                });
            }
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}
