//! [`SettingsBuilder`]: which sources to read, values set in code, and the load itself.

use std::path::{Path, PathBuf};

use mamba_pricing::{ModelPrice, Price};
use mamba_tokens::Encoding;
use rust_decimal::Decimal;

use crate::forms::Form;
use crate::keys::{CodeProblem, CodeValue, key_path};
use crate::layers::{
    KeyPath, Provenance, VarSource, dotenv_vars, env_layer, file_layer, merge,
    openai_fallback_layer,
};
use crate::read::{PRICE, RATE, Reader, display_path, set_price_fields};
use crate::{AgentSettings, Origin, SettingsError, UnknownKey, UsageLimits};

/// The file name looked up in the working directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// The `.env` file looked up in the working directory.
pub const DOTENV_FILE_NAME: &str = ".env";
/// The `.env` file looked up in the user's home directory.
pub const HOME_DOTENV_FILE_NAME: &str = "mamba.env";

#[derive(Debug, Clone)]
enum FileChoice {
    /// Look for the conventional file; absence is fine.
    Conventional,
    /// These files; each must exist.
    Explicit(Vec<PathBuf>),
    /// None.
    Skip,
}

/// Loads [`AgentSettings`]: choose the sources, set values in code (highest priority), then
/// [`build`](SettingsBuilder::build).
///
/// By default it reads every source of [`AgentSettings::load`]; tests and embedded uses can
/// point it at another directory, inject an environment map, or read nothing but code.
///
/// ```
/// use std::time::Duration;
/// use mamba_settings::{AgentSettings, Origin};
///
/// let (settings, report) = AgentSettings::builder()
///     .no_config_file()
///     .no_dotenv()
///     .environment([
///         ("MAMBA_MODEL_BACKEND__BASE_URL", "http://127.0.0.1:8080/v1"),
///         ("MAMBA_COST_RATES", r#"{"my-custom-model": 0.001, "org/model-v1.5": 0.002}"#),
///         ("OPENAI_API_KEY", "sk-from-openai-var"),
///     ])
///     .timeout(Duration::from_secs(5)) // code beats every other source
///     .build_with_report()?;
/// assert_eq!(settings.model_backend.base_url.as_deref(), Some("http://127.0.0.1:8080/v1"));
/// assert_eq!(settings.cost_rates.len(), 2);
/// assert_eq!(settings.model_backend.timeout, Duration::from_secs(5));
/// assert_eq!(
///     report.origin_of(&["model_backend", "api_key"]),
///     Origin::Env { var: "OPENAI_API_KEY".to_owned() }
/// );
/// # Ok::<(), mamba_settings::SettingsError>(())
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SettingsBuilder {
    working_dir: Option<PathBuf>,
    home_dir: Option<PathBuf>,
    config_files: FileChoice,
    dotenv_files: FileChoice,
    environment: Option<Vec<(String, String)>>,
    strict: bool,
    code: Vec<CodeValue>,
}

/// Shows what the builder will read and which keys were set in code, never a value: the
/// injected environment and the values set in code may hold the API key.
impl std::fmt::Debug for SettingsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let environment: Option<Vec<&str>> = self
            .environment
            .as_ref()
            .map(|vars| vars.iter().map(|(name, _)| name.as_str()).collect());
        let set_in_code: Vec<String> = self
            .code
            .iter()
            .map(|value| display_path(&value.path))
            .collect();
        f.debug_struct("SettingsBuilder")
            .field("working_dir", &self.working_dir)
            .field("home_dir", &self.home_dir)
            .field("config_files", &self.config_files)
            .field("dotenv_files", &self.dotenv_files)
            .field("environment", &environment)
            .field("strict", &self.strict)
            .field("set_in_code", &set_in_code)
            .finish()
    }
}

impl Default for SettingsBuilder {
    fn default() -> Self {
        SettingsBuilder {
            working_dir: None,
            home_dir: None,
            config_files: FileChoice::Conventional,
            dotenv_files: FileChoice::Conventional,
            environment: None,
            strict: false,
            code: Vec::new(),
        }
    }
}

/// What a load found besides the settings: unknown keys and where each value came from.
///
/// ```
/// use mamba_settings::{AgentSettings, Origin};
///
/// let (_, report) = AgentSettings::builder()
///     .defaults_only()
///     .environment([("MAMBA_MODEL_BACKEND__MODLE", "gpt-4o")])
///     .build_with_report()?;
/// assert_eq!(report.unknown_keys()[0].key, "model_backend.modle");
/// assert_eq!(report.origin_of(&["model_backend", "model"]), Origin::Default);
/// # Ok::<(), mamba_settings::SettingsError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoadReport {
    unknown: Vec<UnknownKey>,
    provenance: Provenance,
}

impl LoadReport {
    /// Keys no part of mamba reads, sorted, with where they were set.
    pub fn unknown_keys(&self) -> &[UnknownKey] {
        &self.unknown
    }

    /// Where the value at a key path came from (`&["cost_rates", "gpt-4.1"]`).
    pub fn origin_of(&self, path: &[&str]) -> Origin {
        let path: KeyPath = path.iter().map(|key| (*key).to_owned()).collect();
        self.provenance.origin_of(&path)
    }

    /// Every key that was set by some source, as a dotted path, with its origin.
    pub fn origins(&self) -> impl Iterator<Item = (String, &Origin)> {
        self.provenance
            .entries()
            .map(|(path, origin)| (display_path(path), origin))
    }
}

impl SettingsBuilder {
    /// Look for `config.toml` and `.env` in `dir` instead of the current directory.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Look for `mamba.env` in `dir` instead of `$HOME`.
    pub fn home_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home_dir = Some(dir.into());
        self
    }

    /// Read this TOML file instead of `config.toml` in the working directory; it must exist.
    /// Called again, adds another file that wins over the earlier ones.
    pub fn config_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_owned();
        match &mut self.config_files {
            FileChoice::Explicit(paths) => paths.push(path),
            choice => *choice = FileChoice::Explicit(vec![path]),
        }
        self
    }

    /// Read no TOML file.
    pub fn no_config_file(mut self) -> Self {
        self.config_files = FileChoice::Skip;
        self
    }

    /// Read this `.env` file instead of `.env` and `~/mamba.env`; it must exist. Called again,
    /// adds another file that wins over the earlier ones.
    pub fn dotenv_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_owned();
        match &mut self.dotenv_files {
            FileChoice::Explicit(paths) => paths.push(path),
            choice => *choice = FileChoice::Explicit(vec![path]),
        }
        self
    }

    /// Read no `.env` file.
    pub fn no_dotenv(mut self) -> Self {
        self.dotenv_files = FileChoice::Skip;
        self
    }

    /// Use these variables instead of the process environment (tests, embedding).
    pub fn environment<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.environment = Some(vars);
        self
    }

    /// Ignore the process environment.
    pub fn no_environment(self) -> Self {
        self.environment(std::iter::empty::<(String, String)>())
    }

    /// Read no file and no environment: defaults and values set in code only.
    pub fn defaults_only(self) -> Self {
        self.no_config_file().no_dotenv().no_environment()
    }

    /// Refuse unknown keys ([`SettingsError::UnknownKeys`]) instead of warning about them.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Adds a value set in code; the scalar keys' setters are declared in [`crate::keys`].
    pub(crate) fn in_code(mut self, value: CodeValue) -> Self {
        self.code.push(value);
        self
    }

    /// Maps a model to an encoding in `tokenizer.model_mapping`.
    pub fn model_encoding(self, model: &str, encoding: Encoding) -> Self {
        let name = model.to_owned();
        let value = CodeValue::new(&["tokenizer", "model_mapping", model], move |settings| {
            let mapping = &mut settings.tokenizer.model_mapping;
            mapping.insert(name.clone(), encoding);
            Ok(())
        });
        self.in_code(value)
    }

    /// Sets a blended rate per 1,000 tokens for `model` in `cost_rates` (the seed's form).
    pub fn cost_rate(self, model: &str, per_thousand_tokens: Decimal) -> Self {
        let name = model.to_owned();
        let value = CodeValue::new(&["cost_rates", model], move |settings| {
            RATE.check(&per_thousand_tokens)?;
            settings
                .cost_rates
                .insert(name.clone(), per_thousand_tokens);
            Ok(())
        });
        self.in_code(value)
    }

    /// Sets a full price per 1,000,000 tokens for `model` in `prices`. The price replaces
    /// every field another source set for the model: it is the whole price.
    pub fn price(self, model: &str, price: &ModelPrice) -> Self {
        let model = model.to_owned();
        let price = price.clone();
        let value = CodeValue::nested(key_path(&["prices", &model]), move |settings| {
            check_price(&["prices", &model], &price.base)?;
            for (index, tier) in price.tiers.iter().enumerate() {
                check_price(
                    &["prices", &model, "tiers", &index.to_string()],
                    &tier.price,
                )?;
            }
            settings.prices.insert(model.clone(), price.clone());
            Ok(())
        });
        self.in_code(value)
    }

    /// Sets every `usage_limits` key (`None` clears a limit set by another source).
    pub fn usage_limits(self, limits: UsageLimits) -> Self {
        self.requests_limit(limits.requests)
            .input_tokens_limit(limits.input_tokens)
            .output_tokens_limit(limits.output_tokens)
            .total_tokens_limit(limits.total_tokens)
            .cost_limit(limits.cost)
    }

    /// Loads the settings; unknown keys are logged as one `WARN` event listing them.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the bad key or file and its source.
    pub fn build(self) -> Result<AgentSettings, SettingsError> {
        self.build_with_report().map(|(settings, _)| settings)
    }

    /// Loads the settings, and reports unknown keys and the origin of every value.
    ///
    /// # Errors
    /// As [`build`](SettingsBuilder::build).
    pub fn build_with_report(self) -> Result<(AgentSettings, LoadReport), SettingsError> {
        let working_dir = match &self.working_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        let environment = VarSource {
            file: None,
            vars: match &self.environment {
                Some(vars) => vars.clone(),
                None => process_environment()?,
            },
        };
        let mut var_sources = Vec::new();
        for (path, required) in self.dotenv_paths(&working_dir, &environment) {
            let vars = dotenv_vars(&path, required, &environment.vars)?;
            var_sources.push(VarSource {
                file: Some(path),
                vars,
            });
        }
        var_sources.push(environment);

        let mut layers = vec![openai_fallback_layer(&var_sources)];
        for (path, required) in self.config_paths(&working_dir) {
            layers.extend(file_layer(&path, required)?);
        }
        for source in &var_sources {
            layers.push(env_layer(source)?);
        }

        let (tree, mut provenance) = merge(&layers)?;
        let mut settings = AgentSettings::default();
        let mut reader = Reader::new(&provenance);
        reader.read(tree, &mut settings)?;
        let unknown = reader.into_unknown();
        // Values set in code win over every source. They are typed, so they are applied to
        // the settings directly, each checked by its key's rules.
        for value in &self.code {
            value.apply(&mut settings)?;
            provenance.record(value.path.clone(), Origin::Code);
        }
        if let Some((trigger, target)) = settings.context.threshold_problem() {
            let key = ["context".to_owned(), "target_tokens".to_owned()];
            return Err(SettingsError::InvalidValue {
                key: key.join("."),
                origin: provenance.origin_of(&key),
                problem: format!(
                    "{target} is not below `context.trigger_threshold_tokens` ({trigger}, from {})",
                    provenance
                        .origin_of(&["context".to_owned(), "trigger_threshold_tokens".to_owned()])
                ),
                expected: "a target below the trigger".to_owned(),
            });
        }
        if !unknown.is_empty() {
            let list = unknown
                .iter()
                .map(UnknownKey::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if self.strict {
                return Err(SettingsError::UnknownKeys { keys: unknown });
            }
            tracing::warn!(keys = %list, "unknown settings keys are ignored: {list}");
        }
        Ok((
            settings,
            LoadReport {
                unknown,
                provenance,
            },
        ))
    }

    fn config_paths(&self, working_dir: &Path) -> Vec<(PathBuf, bool)> {
        match &self.config_files {
            FileChoice::Conventional => vec![(working_dir.join(CONFIG_FILE_NAME), false)],
            FileChoice::Explicit(paths) => paths.iter().map(|p| (p.clone(), true)).collect(),
            FileChoice::Skip => Vec::new(),
        }
    }

    fn dotenv_paths(&self, working_dir: &Path, environment: &VarSource) -> Vec<(PathBuf, bool)> {
        match &self.dotenv_files {
            FileChoice::Conventional => {
                let home = self.home_dir.clone().or_else(|| {
                    environment
                        .vars
                        .iter()
                        .find(|(name, _)| name == "HOME")
                        .map(|(_, home)| PathBuf::from(home))
                });
                let mut paths = vec![(working_dir.join(DOTENV_FILE_NAME), false)];
                paths.extend(home.map(|home| (home.join(HOME_DOTENV_FILE_NAME), false)));
                paths
            }
            FileChoice::Explicit(paths) => paths.iter().map(|p| (p.clone(), true)).collect(),
            FileChoice::Skip => Vec::new(),
        }
    }
}

/// Checks each field of a price set in code, naming the field at `path` that is out of range.
fn check_price(path: &[&str], price: &Price) -> Result<(), CodeProblem> {
    for (name, value) in set_price_fields(price) {
        PRICE.check(&value).map_err(|problem| {
            let mut key = key_path(path);
            key.push(name.to_owned());
            (key, problem)
        })?;
    }
    Ok(())
}

/// The process environment's variables that matter to settings. A `MAMBA_` variable whose
/// value is not Unicode is an error rather than silently skipped.
fn process_environment() -> Result<Vec<(String, String)>, SettingsError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().map(str::to_owned) else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name, value)),
            Err(_) if name.to_ascii_uppercase().starts_with("MAMBA_") => {
                return Err(SettingsError::InvalidValue {
                    key: name.clone(),
                    origin: Origin::Env { var: name },
                    problem: "the value is not valid Unicode".to_owned(),
                    expected: "a Unicode string".to_owned(),
                });
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}
