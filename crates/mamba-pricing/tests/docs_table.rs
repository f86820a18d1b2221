//! The "Default pricing" table of docs/cost-estimation.md must equal the built-in table.

use std::collections::BTreeMap;

use mamba_pricing::CostEstimator;
use rust_decimal::Decimal;

const GUIDE: &str = include_str!("../../../docs/cost-estimation.md");

fn cell(text: &str) -> Option<Decimal> {
    let text = text.trim();
    (text != "-").then(|| text.trim_start_matches('$').parse().unwrap())
}

#[test]
fn the_guide_lists_exactly_the_built_in_prices() {
    let section = GUIDE
        .split("## Default pricing")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
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
