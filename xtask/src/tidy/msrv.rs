//! No dependency may need a newer Rust than ours: every package in the locked resolution
//! (all features, dev-dependencies included, since the MSRV job builds the tests too) declares
//! a `rust-version` at most the workspace's, or none.
//!
//! Only a newer stable toolchain is installed here, so a `cargo update` that pulls in a crate
//! needing Rust 1.90 would pass every local step and break users on our MSRV; this rule sees it
//! in `cargo metadata` at once.

use serde_json::Value;

/// The violations: one per package whose `rust-version` exceeds `ours`, naming both.
pub(crate) fn check(metadata: &Value, ours: &str) -> Vec<String> {
    let Some(limit) = parse(ours) else {
        return vec![format!(
            "the workspace's rust-version {ours:?} is not a version like \"1.88\""
        )];
    };
    let Some(packages) = metadata["packages"].as_array() else {
        return vec!["cargo metadata has no packages".to_owned()];
    };
    let mut violations = Vec::new();
    for package in packages {
        let Some(needed) = package["rust_version"].as_str() else {
            continue;
        };
        let name = package["name"].as_str().unwrap_or("?");
        let version = package["version"].as_str().unwrap_or("?");
        match parse(needed) {
            Some(needed_version) if needed_version <= limit => {}
            Some(_) => violations.push(format!(
                "{name} {version} needs Rust {needed}, newer than the workspace's rust-version {ours} \
                 (pin an older {name} with `cargo update -p {name} --precise <version>`)"
            )),
            None => violations.push(format!(
                "{name} {version} declares rust-version {needed:?}, which is not a version"
            )),
        }
    }
    violations
}

/// `1.88` or `1.88.1` as (major, minor, patch).
fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    parts.next().is_none().then_some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(packages: &[(&str, Option<&str>)]) -> Value {
        json!({
            "packages": packages
                .iter()
                .map(|(name, rust)| json!({"name": name, "version": "1.0.0", "rust_version": rust}))
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn packages_at_or_under_our_rust_version_or_without_one_pass() {
        let packages = metadata(&[("a", Some("1.88")), ("b", Some("1.70.0")), ("c", None)]);
        assert_eq!(check(&packages, "1.88"), Vec::<String>::new());
        assert_eq!(
            check(&metadata(&[("a", Some("1.88.1"))]), "1.88.1"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_package_needing_a_newer_rust_is_named_with_both_versions() {
        let packages = metadata(&[
            ("old", Some("1.60")),
            ("new", Some("1.89")),
            ("patch", Some("1.88.1")),
        ]);
        assert_eq!(
            check(&packages, "1.88"),
            [
                "new 1.0.0 needs Rust 1.89, newer than the workspace's rust-version 1.88 \
                 (pin an older new with `cargo update -p new --precise <version>`)",
                "patch 1.0.0 needs Rust 1.88.1, newer than the workspace's rust-version 1.88 \
                 (pin an older patch with `cargo update -p patch --precise <version>`)",
            ]
        );
    }

    #[test]
    fn versions_that_are_not_versions_are_violations_not_passes() {
        assert_eq!(
            check(&metadata(&[("a", Some("1.x"))]), "1.88"),
            ["a 1.0.0 declares rust-version \"1.x\", which is not a version"]
        );
        assert_eq!(
            check(&metadata(&[]), ""),
            ["the workspace's rust-version \"\" is not a version like \"1.88\""]
        );
    }
}
