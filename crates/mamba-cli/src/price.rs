//! `mamba price` (a model's prices: tiers, cache reads and writes, service tiers, context
//! window, source and date) and `mamba cost` (the exact cost of one request), from
//! mamba-pricing's built-in table.

use mamba_pricing::{CostEstimator, Decimal, ModelPrice, Price, PriceSource};
use mamba_usage::{ServiceTier, UsageRecord};

use crate::money::exact_usd;
use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba price gpt-4o\n  mamba price claude-sonnet-4-6 gemini-2.5-pro"
)]
pub(crate) struct PriceArgs {
    /// The models, as a provider names them (`gpt-4o`, `anthropic/claude-sonnet-4-6`).
    #[arg(required = true)]
    models: Vec<String>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba cost --model gpt-4o --input 12000 --output 800 --cached 4000\n  mamba cost --model claude-sonnet-4-6 --input 3000 --output 200 --cache-write 2000 --cache-write-1h 1000\n  mamba cost --model o3 --input 1000 --output 5000 --service-tier flex --json"
)]
pub(crate) struct CostArgs {
    /// The model.
    #[arg(long)]
    model: String,
    /// All input (prompt) tokens, cache reads and writes included.
    #[arg(long)]
    input: u64,
    /// Output (completion) tokens, reasoning included.
    #[arg(long)]
    output: u64,
    /// Of the input, tokens read from the prompt cache.
    #[arg(long, default_value_t = 0)]
    cached: u64,
    /// Of the input, tokens written to the prompt cache (all lifetimes).
    #[arg(long, default_value_t = 0)]
    cache_write: u64,
    /// Of the cache writes, those with a one-hour lifetime.
    #[arg(long, default_value_t = 0)]
    cache_write_1h: u64,
    /// The service tier that served the request: standard, flex, priority or batch.
    #[arg(long, value_parser = parse_service_tier)]
    service_tier: Option<ServiceTier>,
    /// Print JSON (amounts as exact decimal text) instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_service_tier(name: &str) -> Result<ServiceTier, String> {
    ServiceTier::ALL
        .into_iter()
        .find(|tier| tier.name() == name)
        .ok_or_else(|| {
            format!("`{name}` is not a service tier; expected standard, flex, priority or batch")
        })
}

pub(crate) fn run_price(args: &PriceArgs) -> Result<Outcome> {
    let estimator = CostEstimator::new();
    let mut outcome = Outcome::Done;
    let mut shown = Vec::new();
    for model in &args.models {
        match estimator.rate(model) {
            Ok(price) => {
                let priced_as = estimator.estimate(0, 0, model).priced_as;
                let mut text = describe(model, priced_as.as_deref(), &price);
                text.push_str(&earlier(&estimator.price_history(model), &price));
                shown.push(text);
            }
            Err(error) => {
                eprintln!("mamba: error: {error}");
                outcome = Outcome::Failed;
            }
        }
    }
    print_out(&shown.join("\n"))?;
    Ok(outcome)
}

/// A model's prices as text: a heading, then one row per service tier and long-context tier.
fn describe(model: &str, priced_as: Option<&str>, price: &ModelPrice) -> String {
    let mut out = match priced_as {
        Some(entry) if entry != model => format!("{model} (priced as {entry})\n"),
        _ => format!("{model}\n"),
    };
    let mut facts = vec![format!("source: {}", price.source)];
    if let Some(checked) = &price.checked {
        facts.push(format!("checked {checked}"));
    }
    if let Some(since) = price.since {
        facts.push(format!("in force since {since}"));
    }
    out.push_str(&format!("  {}\n", facts.join("; ")));
    if let Some(window) = price.context_window {
        let side = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), grouped);
        out.push_str(&format!(
            "  context window: {} tokens in, {} out\n",
            side(window.max_input_tokens),
            side(window.max_output_tokens)
        ));
    }
    let mut table = Table::new(&[
        ("USD PER 1M TOKENS", Align::Left),
        ("INPUT", Align::Right),
        ("CACHED INPUT", Align::Right),
        ("CACHE WRITE", Align::Right),
        ("CACHE WRITE 1H", Align::Right),
        ("OUTPUT", Align::Right),
    ]);
    let mut rows = vec![("standard".to_owned(), price.base)];
    rows.extend(price.tiers.iter().map(|tier| {
        (
            format!("standard, prompt > {}", grouped(tier.above_prompt_tokens)),
            tier.price,
        )
    }));
    for (service, tiered) in &price.service_tiers {
        rows.push((service.name().to_owned(), tiered.base));
        rows.extend(tiered.tiers.iter().map(|tier| {
            (
                format!(
                    "{}, prompt > {}",
                    service.name(),
                    grouped(tier.above_prompt_tokens)
                ),
                tier.price,
            )
        }));
    }
    for (name, row) in rows {
        table.row(price_row(name, &row));
    }
    for line in table.render().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The prices in force before `current`, newest first, one line each.
fn earlier(history: &[ModelPrice], current: &ModelPrice) -> String {
    let mut out = String::new();
    for price in history.iter().rev().filter(|price| *price != current) {
        let since = price
            .since
            .map_or_else(|| "before that".to_owned(), |day| format!("from {day}"));
        out.push_str(&format!(
            "  earlier, {since}: input {}, output {}\n",
            exact_usd(price.base.input),
            exact_usd(price.base.output)
        ));
    }
    out
}

/// A price as cells; a cache price the data leaves unset shows what applies (`= input`).
fn price_row(name: String, price: &Price) -> Vec<String> {
    let or = |value: Option<Decimal>, fallback: &str| {
        value.map_or_else(|| format!("= {fallback}"), exact_usd)
    };
    vec![
        name,
        exact_usd(price.input),
        or(price.cached_input, "input"),
        or(price.cache_write, "input"),
        or(price.cache_write_1h, "cache write"),
        exact_usd(price.output),
    ]
}

pub(crate) fn run_cost(args: &CostArgs) -> Result<Outcome> {
    let mut builder = UsageRecord::builder(&args.model)
        .prompt_tokens(args.input)
        .completion_tokens(args.output)
        .cached_tokens(args.cached)
        .cache_write_tokens(args.cache_write)
        .cache_write_1h_tokens(args.cache_write_1h);
    if let Some(tier) = args.service_tier {
        builder = builder.service_tier(tier);
    }
    let record = builder.build().map_err(|_| {
        Error::usage(if args.cache_write_1h > args.cache_write {
            format!(
                "--cache-write-1h {} exceeds --cache-write {}: one-hour writes are part of the cache writes",
                args.cache_write_1h, args.cache_write
            )
        } else {
            format!(
                "--cached {} plus --cache-write {} exceed --input {}: cache reads and writes are part of the input",
                args.cached, args.cache_write, args.input
            )
        })
    })?;
    let estimator = CostEstimator::new();
    let cost = estimator.estimate_record(&record);
    if cost.source == PriceSource::Unpriced {
        // Never a silent $0: the strict lookup names the closest known models.
        let error = estimator.rate(&args.model).err().map_or_else(
            || format!("no price for model `{}`", args.model),
            |e| e.to_string(),
        );
        return Err(Error::new(error));
    }
    if args.json {
        let value = serde_json::to_value(&cost)
            .map_err(|error| Error::new(format!("could not write the cost as JSON: {error}")))?;
        print_out(&format!("{value:#}\n"))?;
        return Ok(Outcome::Done);
    }
    let heading = match &cost.priced_as {
        Some(entry) if *entry != args.model => format!("{} (priced as {entry})\n", args.model),
        _ => format!("{}\n", args.model),
    };
    let mut table = Table::new(&[
        ("PART", Align::Left),
        ("TOKENS", Align::Right),
        ("COST", Align::Right),
    ]);
    let uncached = record.uncached_prompt_tokens();
    table.row(vec![
        "input".to_owned(),
        grouped(uncached),
        exact_usd(cost.input_cost),
    ]);
    table.row(vec![
        "cached input".to_owned(),
        grouped(args.cached),
        exact_usd(cost.cached_input_cost),
    ]);
    table.row(vec![
        "cache write".to_owned(),
        grouped(args.cache_write),
        exact_usd(cost.cache_write_cost),
    ]);
    table.row(vec![
        "output".to_owned(),
        grouped(args.output),
        exact_usd(cost.completion_cost),
    ]);
    table.row(vec![
        "total".to_owned(),
        grouped(record.total_tokens()),
        exact_usd(cost.total_cost),
    ]);
    print_out(&format!("{heading}{}", table.render()))?;
    Ok(Outcome::Done)
}
