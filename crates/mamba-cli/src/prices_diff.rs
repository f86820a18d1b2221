//! `mamba prices diff FILE.json`: a LiteLLM-format price file against the built-in table,
//! price by price, with the file read by mamba-pricing's own LiteLLM reader.
//!
//! Each entry of the file is matched to the built-in table as a record of that model would
//! be (provider prefixes, dated snapshots); a matched entry whose prices differ shows one row
//! per differing price, an unmatched one is `new`. Built-in entries that no file entry
//! matched are `missing`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use mamba_pricing::{CostEstimator, Decimal, LoadMode, ModelPrice, Price, parse_litellm_json};

use crate::money::exact_usd;
use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba prices diff model_prices_and_context_window.json\n  mamba prices diff prices.json --missing"
)]
pub(crate) struct Args {
    /// The price file, in LiteLLM's `model_prices_and_context_window.json` format.
    file: PathBuf,
    /// Also list the built-in models the file has no entry for.
    #[arg(long)]
    missing: bool,
}

pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|error| Error::new(format!("could not read {name}: {error}")))?;
    let file = parse_litellm_json(&text, &name, LoadMode::Lenient)
        .map_err(|error| Error::new(error.to_string()))?;
    for skipped in &file.skipped {
        eprintln!("mamba: warning: skipped: {skipped}");
    }
    let estimator = CostEstimator::new();
    let built_in = estimator.all_rates();
    let mut table = Table::new(&[
        ("STATUS", Align::Left),
        ("MODEL", Align::Left),
        ("PRICE", Align::Left),
        ("BUILT-IN", Align::Right),
        ("FILE", Align::Right),
    ]);
    let mut matched = BTreeSet::new();
    let (mut changed, mut new) = (0_usize, 0_usize);
    for (model, theirs) in &file.prices {
        let entry = estimator.estimate(0, 0, model).priced_as;
        let Some(ours) = entry.as_deref().and_then(|entry| built_in.get(entry)) else {
            new += 1;
            table.row(vec![
                "new".to_owned(),
                model.clone(),
                "input / output".to_owned(),
                "-".to_owned(),
                format!(
                    "{} / {}",
                    exact_usd(theirs.base.input),
                    exact_usd(theirs.base.output)
                ),
            ]);
            continue;
        };
        if let Some(entry) = entry {
            matched.insert(entry);
        }
        let differences = differences(ours, theirs);
        if !differences.is_empty() {
            changed += 1;
        }
        for (price, mine, file_value) in differences {
            table.row(vec![
                "changed".to_owned(),
                model.clone(),
                price,
                mine,
                file_value,
            ]);
        }
    }
    let mut missing = 0_usize;
    for (model, ours) in &built_in {
        if matched.contains(model) {
            continue;
        }
        missing += 1;
        if args.missing {
            table.row(vec![
                "missing".to_owned(),
                model.clone(),
                "input / output".to_owned(),
                format!(
                    "{} / {}",
                    exact_usd(ours.base.input),
                    exact_usd(ours.base.output)
                ),
                "-".to_owned(),
            ]);
        }
    }
    let summary = format!(
        "{}: {} entries read; {changed} with other prices than the built-in table, {new} not in it; \
         {missing} built-in models not in the file{}\n",
        name,
        grouped(file.prices.len() as u64),
        if args.missing {
            ""
        } else {
            " (--missing lists them)"
        }
    );
    print_out(&format!("{}{summary}", table.render()))?;
    Ok(Outcome::Done)
}

/// `(price, built-in, file)` for each price of the two that differs, in USD per 1M tokens. A
/// price group (a service tier, a long-context tier) only one side has is one row, its input
/// and output prices against `-`; a price neither side sets is no difference.
fn differences(ours: &ModelPrice, theirs: &ModelPrice) -> Vec<(String, String, String)> {
    let (ours, theirs) = (groups(ours), groups(theirs));
    let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let shown = |value: Option<Decimal>| value.map_or_else(|| "-".to_owned(), exact_usd);
    let both = |price: &Price| format!("{} / {}", exact_usd(price.input), exact_usd(price.output));
    let mut rows = Vec::new();
    for group in names {
        let named = |field: &str| {
            if group.is_empty() {
                field.to_owned()
            } else {
                format!("{group} {field}")
            }
        };
        match (ours.get(group), theirs.get(group)) {
            (Some(mine), Some(file)) => {
                for ((field, mine), (_, file)) in mine.fields().into_iter().zip(file.fields()) {
                    if mine != file {
                        rows.push((named(field), shown(mine), shown(file)));
                    }
                }
            }
            (Some(mine), None) => rows.push((named("input / output"), both(mine), "-".to_owned())),
            (None, Some(file)) => rows.push((named("input / output"), "-".to_owned(), both(file))),
            (None, None) => {}
        }
    }
    rows
}

/// A model's prices by group: `` (standard), `prompt > 200,000:`, `flex`,
/// `flex prompt > 200,000:`.
fn groups(price: &ModelPrice) -> BTreeMap<String, Price> {
    let mut groups = BTreeMap::new();
    groups.insert(String::new(), price.base);
    for tier in &price.tiers {
        groups.insert(
            format!("prompt > {}:", grouped(tier.above_prompt_tokens)),
            tier.price,
        );
    }
    for (service, tiered) in &price.service_tiers {
        groups.insert(service.name().to_owned(), tiered.base);
        for tier in &tiered.tiers {
            groups.insert(
                format!(
                    "{} prompt > {}:",
                    service.name(),
                    grouped(tier.above_prompt_tokens)
                ),
                tier.price,
            );
        }
    }
    groups
}
