//! Sources turned into layers of keyed values, merged by the `config` crate in priority order,
//! with the origin of every value kept for error messages and reports.

use std::collections::BTreeMap;
use std::path::Path;

use config::{Config, FileFormat, Map, Source, Value, ValueKind};

use crate::rates::{COST_RATES_VAR, parse_cost_rates};
use crate::{Origin, SettingsError};

/// A nested table of settings values, as the `config` crate holds them.
pub(crate) type Tree = Map<String, Value>;

/// A key's path from the root: `["cost_rates", "gpt-4.1"]`.
pub(crate) type KeyPath = Vec<String>;

/// The prefix of our environment variables.
const ENV_PREFIX: &str = "MAMBA_";
/// Separates nesting levels in environment variable names.
const ENV_SEPARATOR: &str = "__";
/// The variable that sets the key at `path`: `MAMBA_` and the path in capitals with `__`
/// between levels, the names [`env_layer`] reads.
pub(crate) fn env_var_name(path: &[&str]) -> String {
    format!("{ENV_PREFIX}{}", path.join(ENV_SEPARATOR).to_uppercase())
}

/// Variables of the OpenAI SDKs, used when no source sets the key they stand for.
pub(crate) const OPENAI_FALLBACKS: [(&str, &str); 2] = [
    ("OPENAI_API_KEY", "api_key"),
    ("OPENAI_BASE_URL", "base_url"),
];

/// The values one source sets, each with its origin.
#[derive(Clone, Default)]
pub(crate) struct Layer {
    leaves: Vec<(KeyPath, Value, Origin)>,
}

/// Key paths and origins only: a value may be a secret (the API key), so none is shown.
impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.leaves
                    .iter()
                    .map(|(path, _, origin)| format!("{} ({origin})", path.join("."))),
            )
            .finish()
    }
}

impl Layer {
    /// Sets `path`. The Python library's section name `token_tracking` is `tokenizer` from
    /// here on, so the two spellings merge by source priority like any other key (an
    /// environment variable beats config.toml whichever section name each uses).
    pub(crate) fn set(&mut self, mut path: KeyPath, value: Value, origin: Origin) {
        if path
            .first()
            .is_some_and(|section| section == "token_tracking")
        {
            path[0] = "tokenizer".to_owned();
        }
        self.leaves.push((path, value, origin));
    }

    /// Every leaf of `tree`, attributed to `origin`.
    fn from_tree(tree: Tree, origin: &Origin) -> Layer {
        fn flatten(prefix: &mut KeyPath, tree: Tree, origin: &Origin, layer: &mut Layer) {
            for (key, value) in tree {
                prefix.push(key);
                match value.kind {
                    ValueKind::Table(table) if !table.is_empty() => {
                        flatten(prefix, table, origin, layer);
                    }
                    kind => layer.set(prefix.clone(), Value::new(None, kind), origin.clone()),
                }
                prefix.pop();
            }
        }
        // The Python library's `[token_tracking]` first, so within one source `[tokenizer]`
        // (set after it) wins; `Tree` is a hash map, whose order is not the file's.
        let mut sections: Vec<(String, Value)> = tree.into_iter().collect();
        sections.sort_by_key(|(name, _)| name != "token_tracking");
        let mut layer = Layer::default();
        for (name, value) in sections {
            let section: Tree = std::iter::once((name, value)).collect();
            flatten(&mut Vec::new(), section, origin, &mut layer);
        }
        layer
    }

    fn to_tree(&self) -> Tree {
        fn insert(table: &mut Tree, path: &[String], value: &Value) {
            match path {
                [] => {}
                [last] => {
                    table.insert(last.clone(), value.clone());
                }
                [first, rest @ ..] => {
                    let entry = table
                        .entry(first.clone())
                        .or_insert_with(|| Value::new(None, ValueKind::Table(Tree::new())));
                    // A plain value on the way is replaced by a table, as a later source's
                    // table replaces an earlier plain value.
                    if !matches!(entry.kind, ValueKind::Table(_)) {
                        entry.kind = ValueKind::Table(Tree::new());
                    }
                    if let ValueKind::Table(inner) = &mut entry.kind {
                        insert(inner, rest, value);
                    }
                }
            }
        }
        let mut root = Tree::new();
        for (path, value, _) in &self.leaves {
            insert(&mut root, path, value);
        }
        root
    }
}

/// A layer as a `config` source.
#[derive(Clone)]
struct LayerSource(Tree);

/// Keys only: a value may be a secret.
impl std::fmt::Debug for LayerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LayerSource")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Source for LayerSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Tree, config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// Where each leaf of the merged settings came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance(BTreeMap<KeyPath, Origin>);

impl Provenance {
    /// The origin of the value at `path`: its own, or for a table the origin of one of its
    /// values, or the origin of the value that contains it.
    pub(crate) fn origin_of(&self, path: &[String]) -> Origin {
        if let Some(origin) = self.0.get(path) {
            return origin.clone();
        }
        if let Some((_, origin)) = self
            .0
            .range(path.to_vec()..)
            .next()
            .filter(|(key, _)| key.starts_with(path))
        {
            return origin.clone();
        }
        (0..path.len())
            .rev()
            .find_map(|len| self.0.get(&path[..len]))
            .cloned()
            .unwrap_or(Origin::Default)
    }

    /// Records that `origin` set `path`: a value replaces everything below it (and a table
    /// replaces a plain value).
    pub(crate) fn record(&mut self, path: KeyPath, origin: Origin) {
        self.0
            .retain(|key, _| !key.starts_with(&path) && !path.starts_with(key));
        self.0.insert(path, origin);
    }

    /// Every key that was set, with its origin.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&KeyPath, &Origin)> {
        self.0.iter()
    }
}

/// Merges layers, later ones winning, into one tree.
pub(crate) fn merge(layers: &[Layer]) -> Result<(Tree, Provenance), SettingsError> {
    let mut builder = Config::builder();
    let mut provenance = Provenance::default();
    for layer in layers {
        builder = builder.add_source(LayerSource(layer.to_tree()));
        for (path, _, origin) in &layer.leaves {
            provenance.record(path.clone(), origin.clone());
        }
    }
    // Our sources never fail to collect, so building cannot fail; map it anyway rather than
    // panic, naming no key because there is none to name.
    let merged = builder
        .build()
        .and_then(|config| config.collect())
        .map_err(|e| SettingsError::InvalidValue {
            key: String::new(),
            origin: Origin::Default,
            problem: e.to_string(),
            expected: "settings the config crate can merge".to_owned(),
        })?;
    Ok((merged, provenance))
}

/// Reads a TOML settings file. A missing file is `Ok(None)` unless `required`.
pub(crate) fn file_layer(path: &Path, required: bool) -> Result<Option<Layer>, SettingsError> {
    let is_toml = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
    if !is_toml {
        return Err(SettingsError::UnsupportedFormat {
            path: path.to_owned(),
        });
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if required {
                Err(SettingsError::FileNotFound {
                    path: path.to_owned(),
                })
            } else {
                Ok(None)
            };
        }
        Err(source) => {
            return Err(SettingsError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let tree = config::File::from_str(&text, FileFormat::Toml)
        .collect()
        .map_err(|e| SettingsError::MalformedToml {
            path: path.to_owned(),
            reason: toml_reason(&text).unwrap_or_else(|| e.to_string()),
        })?;
    let origin = Origin::File {
        path: path.to_owned(),
    };
    Ok(Some(Layer::from_tree(tree, &origin)))
}

/// The TOML parser's message with line and column, without the quoted source line (a malformed
/// line may hold an API key).
fn toml_reason(text: &str) -> Option<String> {
    let error = text.parse::<toml::Table>().err()?;
    let message = error.message().trim().to_owned();
    let Some(span) = error.span() else {
        return Some(message);
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some(format!("line {line}, column {column}: {message}"))
}

/// The variables of a `.env` file, in file order (see [`crate::dotenv`]); `${NAME}` resolves
/// against `environment`, the builder's. A missing file is empty unless `required`.
pub(crate) fn dotenv_vars(
    path: &Path,
    required: bool,
    environment: &[(String, String)],
) -> Result<Vec<(String, String)>, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SettingsError::FileNotFound {
                path: path.to_owned(),
            });
        }
        Err(source) => {
            return Err(SettingsError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    crate::dotenv::parse(&text, environment).map_err(|error| SettingsError::MalformedDotEnv {
        path: path.to_owned(),
        reason: format!("line {} {}", error.line, error.reason),
    })
}

/// The variables of one `.env` file or of the process environment.
#[derive(Clone, Default)]
pub(crate) struct VarSource {
    /// The `.env` file they were read from; `None`: the process environment.
    pub(crate) file: Option<std::path::PathBuf>,
    pub(crate) vars: Vec<(String, String)>,
}

/// Variable names only: a value may be a secret.
impl std::fmt::Debug for VarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("VarSource")
            .field("file", &self.file)
            .field("vars", &names)
            .finish()
    }
}

impl VarSource {
    fn origin(&self, var: &str) -> Origin {
        match &self.file {
            Some(path) => Origin::DotEnv {
                path: path.clone(),
                var: var.to_owned(),
            },
            None => Origin::Env {
                var: var.to_owned(),
            },
        }
    }
}

/// The layer of our variables (`MAMBA_` prefix, `__` nesting, `MAMBA_COST_RATES`) in `source`.
pub(crate) fn env_layer(source: &VarSource) -> Result<Layer, SettingsError> {
    let mut ours: Vec<&(String, String)> = source
        .vars
        .iter()
        .filter(|(name, _)| {
            name.len() > ENV_PREFIX.len()
                && name.is_char_boundary(ENV_PREFIX.len())
                && name[..ENV_PREFIX.len()].eq_ignore_ascii_case(ENV_PREFIX)
        })
        .collect();
    // Sorted by name only, so `MAMBA_COST_RATES` comes before the more specific
    // `MAMBA_COST_RATES__NAME` and the latter wins; the sort is stable, so a name set twice
    // keeps its file order and its last value wins.
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    let mut layer = Layer::default();
    for (name, value) in ours {
        let var_origin = source.origin(name);
        if name.eq_ignore_ascii_case(COST_RATES_VAR) {
            for (model, rate) in parse_cost_rates(value, &var_origin)? {
                layer.set(
                    vec!["cost_rates".to_owned(), model],
                    rate,
                    var_origin.clone(),
                );
            }
            continue;
        }
        let path = name[ENV_PREFIX.len()..]
            .to_lowercase()
            .split(ENV_SEPARATOR)
            .map(str::to_owned)
            .collect();
        layer.set(
            path,
            Value::new(None, ValueKind::String(value.clone())),
            var_origin,
        );
    }
    Ok(layer)
}

/// `OPENAI_API_KEY` and `OPENAI_BASE_URL` as settings, from the highest-priority source that has
/// them (`sources` lowest first); the caller puts this layer lowest, so any `model_backend`
/// value overrides it.
pub(crate) fn openai_fallback_layer(sources: &[VarSource]) -> Layer {
    let mut layer = Layer::default();
    for (var, key) in OPENAI_FALLBACKS {
        let found = sources.iter().rev().find_map(|source| {
            source
                .vars
                .iter()
                .rev()
                .find(|(name, _)| name == var)
                .map(|(_, value)| (value.clone(), source.origin(var)))
        });
        if let Some((value, origin)) = found {
            layer.set(
                vec!["model_backend".to_owned(), key.to_owned()],
                Value::new(None, ValueKind::String(value)),
                origin,
            );
        }
    }
    layer
}
