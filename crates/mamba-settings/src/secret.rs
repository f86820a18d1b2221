//! [`ApiKey`]: a secret that never shows in `Debug`, `Display`, dumps or errors.

use std::fmt;

/// An API key. Its `Debug` and `Display` print `[redacted]`; read it with
/// [`expose_secret`](ApiKey::expose_secret) only where it is sent.
///
/// ```
/// use mamba_settings::ApiKey;
///
/// let key = ApiKey::new("sk-live-123");
/// assert_eq!(format!("{key:?} {key}"), "ApiKey([redacted]) [redacted]");
/// assert_eq!(key.expose_secret(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// What `Debug`, `Display` and [`AgentSettings::dump_safe`](crate::AgentSettings::dump_safe)
    /// print instead of the key.
    pub const REDACTED: &'static str = "[redacted]";

    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key itself, for the `Authorization` header and nothing else.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", ApiKey::REDACTED)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ApiKey::REDACTED)
    }
}
