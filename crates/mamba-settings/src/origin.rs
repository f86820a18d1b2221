//! [`Origin`]: where a setting's value came from, so errors and reports can name it.

use std::fmt;
use std::path::PathBuf;

/// The source a setting's value was read from.
///
/// Every [`SettingsError`](crate::SettingsError) about a value names its origin, and
/// [`LoadReport::origin_of`](crate::LoadReport::origin_of) tells where any loaded key came from.
///
/// ```
/// use mamba_settings::Origin;
///
/// let origin = Origin::Env { var: "MAMBA_COST_RATES".to_owned() };
/// assert_eq!(origin.to_string(), "environment variable MAMBA_COST_RATES");
/// assert_eq!(Origin::Default.to_string(), "the built-in default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Origin {
    /// Nobody set it: the built-in default.
    Default,
    /// A TOML settings file (`config.toml` or the file given to
    /// [`AgentSettings::from_file`](crate::AgentSettings::from_file)).
    File {
        /// The file's path.
        path: PathBuf,
    },
    /// A variable in a `.env` file.
    DotEnv {
        /// The `.env` file's path.
        path: PathBuf,
        /// The variable's name in it.
        var: String,
    },
    /// A variable of the process environment (or of the map given to
    /// [`SettingsBuilder::environment`](crate::SettingsBuilder::environment)).
    Env {
        /// The variable's name.
        var: String,
    },
    /// A value set in code through [`SettingsBuilder`](crate::SettingsBuilder).
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::File { path } => write!(f, "settings file {}", path.display()),
            Origin::DotEnv { path, var } => write!(f, "{var} in .env file {}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Code => f.write_str("a value set in code"),
        }
    }
}
