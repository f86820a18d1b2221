//! docs/configuration.md's key table lists exactly the keys mamba-settings declares, each with
//! its variables, default and doc as `SettingKey::all()` gives them.

use mamba_settings::SettingKey;

const REFERENCE: &str = include_str!("../configuration.md");

/// The reference table's rows as `SettingKey::all()` says they must read.
fn expected_rows() -> Vec<String> {
    SettingKey::all()
        .iter()
        .map(|key| {
            let variables = match key.variables.split_first() {
                None => "none".to_owned(),
                Some((first, rest)) => {
                    let mut text = format!("`{first}`");
                    for other in rest {
                        text.push_str(&format!(" (or `{other}`)"));
                    }
                    text
                }
            };
            format!(
                "| `{}` | {variables} | {} | {} |",
                key.key, key.default, key.doc
            )
        })
        .collect()
}

#[test]
fn the_reference_table_lists_exactly_the_declared_keys() {
    let section = REFERENCE.split("## Keys").nth(1).unwrap();
    let documented: Vec<&str> = section
        .lines()
        .skip_while(|line| !line.starts_with("|---"))
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let expected = expected_rows();
    assert_eq!(
        documented,
        expected,
        "docs/configuration.md's key table should read:\n{}",
        expected.join("\n")
    );
}
