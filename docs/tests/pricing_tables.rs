//! The "Default pricing" table of docs/cost-estimation.md shows a selection of the built-in
//! table (the seed's rows and current models); every row it shows must equal the built-in price.

use std::collections::BTreeMap;

use mamba_pricing::CostEstimator;
use rust_decimal::Decimal;

const GUIDE: &str = include_str!("../cost-estimation.md");

/// The text of a page's "Default pricing" section.
fn default_pricing_section(page: &str) -> &str {
    let after = page.split("## Default pricing").nth(1).unwrap();
    after.split("\n## ").next().unwrap()
}

fn cell(text: &str) -> Option<Decimal> {
    let text = text.trim();
    (text != "-").then(|| text.trim_start_matches('$').parse().unwrap())
}

#[test]
fn the_guide_shows_built_in_prices_exactly() {
    let section = default_pricing_section(GUIDE);
    let mut documented = BTreeMap::new();
    for line in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Model") && !l.contains("Local models"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        let [model, input, cached, write, output] = cells[..] else {
            panic!("bad row: {line}")
        };
        documented.insert(
            model.trim().to_owned(),
            (cell(input), cell(cached), cell(write), cell(output)),
        );
    }
    let built_in: BTreeMap<String, _> = CostEstimator::new()
        .all_rates()
        .into_iter()
        .filter(|(model, _)| documented.contains_key(model))
        .map(|(model, price)| {
            let base = price.base;
            (
                model,
                (
                    Some(base.input),
                    base.cached_input,
                    base.cache_write,
                    Some(base.output),
                ),
            )
        })
        .collect();
    assert_eq!(documented, built_in);
}

/// The seed page's rows in docs/token-tracking.md (a subset of the built-in table) must equal
/// the built-in prices too, and cover the rows the Python page lists.
#[test]
fn the_token_tracking_page_lists_built_in_prices() {
    let section = default_pricing_section(include_str!("../token-tracking.md"));
    let estimator = CostEstimator::new();
    let mut models = Vec::new();
    for line in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Model"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [model, input, cached, write, output] = cells[..] else {
            panic!("bad row: {line}")
        };
        if model == "Local models" {
            assert_eq!([input, cached, write, output], ["$0.00"; 4]);
            continue;
        }
        let base = estimator.rate(model).unwrap().base;
        let documented = (cell(input), cell(cached), cell(write), cell(output));
        let built_in = (
            Some(base.input),
            base.cached_input,
            base.cache_write,
            Some(base.output),
        );
        assert_eq!(documented, built_in, "{model}");
        models.push(model);
    }
    assert_eq!(
        models,
        [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "claude-3-5-sonnet",
            "claude-3-opus"
        ]
    );
}
