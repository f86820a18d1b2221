//! `mamba price` (a model's prices: tiers, cache reads and writes, service tiers, context
//! window, source and date) and `mamba cost` (the exact cost of one request), from
//! mamba-pricing's built-in table.

use mamba_pricing::{ContextWindow, CostEstimator, Decimal, ModelPrice, Price, PriceSource, Tier};
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
                text.push_str(&other_periods(&estimator.price_history(model), &price));
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
        out.push_str(&format!("  context window: {}\n", window_sides(window)));
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

/// The other periods of a model's price, one line each: the changes already scheduled (oldest
/// first), then the prices in force before `current` (newest first). A line gives the standard
/// input and output prices, then what else differs from the period next to it on the way to
/// `current` (a service tier it lacks, another cache price), so that two periods with the same
/// standard prices read apart.
fn other_periods(history: &[ModelPrice], current: &ModelPrice) -> String {
    let Some(at) = history.iter().position(|price| price == current) else {
        return String::new();
    };
    let mut out = String::new();
    for pair in history[at..].windows(2) {
        if let [before, later] = pair {
            let since = later.since.map_or_else(String::new, |day| day.to_string());
            out.push_str(&format!(
                "  from {since} (scheduled): {}\n",
                period_summary(later, before)
            ));
        }
    }
    for pair in history[..=at].windows(2).rev() {
        if let [older, newer] = pair {
            let since = older
                .since
                .map_or_else(|| "before that".to_owned(), |day| format!("from {day}"));
            out.push_str(&format!(
                "  earlier, {since}: {}\n",
                period_summary(older, newer)
            ));
        }
    }
    out
}

/// `price`'s standard input and output prices, then how else it differs from `next`.
fn period_summary(price: &ModelPrice, next: &ModelPrice) -> String {
    let mut parts = vec![input_output(&price.base)];
    parts.extend(differences(price, next));
    parts.join(", ")
}

/// What `older` prices otherwise than `newer`, beyond the standard input and output prices.
fn differences(older: &ModelPrice, newer: &ModelPrice) -> Vec<String> {
    let mut parts = changed_cache_prices(&older.base, &newer.base);
    tier_changes("", &older.tiers, &newer.tiers, &mut parts);
    let mut lacked = Vec::new();
    for service in ServiceTier::ALL {
        let name = service.name();
        let prefix = format!("{name} ");
        match (
            older.service_tiers.get(&service),
            newer.service_tiers.get(&service),
        ) {
            (None, Some(_)) => lacked.push(name),
            (Some(then), None) => {
                parts.push(format!("{name} {}", input_output(&then.base)));
                tier_changes(&prefix, &then.tiers, &[], &mut parts);
            }
            (Some(then), Some(now)) if then != now => {
                let mut changed = changed_cache_prices(&then.base, &now.base);
                if (then.base.input, then.base.output) != (now.base.input, now.base.output) {
                    changed.insert(0, input_output(&then.base));
                }
                if !changed.is_empty() {
                    parts.push(format!("{name} {}", changed.join(", ")));
                }
                tier_changes(&prefix, &then.tiers, &now.tiers, &mut parts);
            }
            _ => {}
        }
    }
    if !lacked.is_empty() {
        parts.push(format!("no {} tier", or_list(&lacked)));
    }
    if older.context_window != newer.context_window {
        let window = older.context_window.unwrap_or_default();
        parts.push(format!("context window {}", window_sides(window)));
    }
    parts
}

/// `input $2.00, output $8.00`.
fn input_output(price: &Price) -> String {
    format!(
        "input {}, output {}",
        exact_usd(price.input),
        exact_usd(price.output)
    )
}

/// The cache prices of `then` that differ from `now`'s: `cached input $0.25`, or what applies
/// where `then` sets none (`cache write = input`).
fn changed_cache_prices(then: &Price, now: &Price) -> Vec<String> {
    [
        ("cached input", then.cached_input, now.cached_input, "input"),
        ("cache write", then.cache_write, now.cache_write, "input"),
        (
            "cache write 1h",
            then.cache_write_1h,
            now.cache_write_1h,
            "cache write",
        ),
    ]
    .into_iter()
    .filter(|(_, then, now, _)| then != now)
    .map(|(part, then, _, fallback)| {
        let value = then.map_or_else(|| format!("= {fallback}"), exact_usd);
        format!("{part} {value}")
    })
    .collect()
}

/// The long-context tiers of `older` when they differ from `newer`'s (`no long-context tier`
/// when it has none), each named after `prefix` (a service tier's name and a space, or
/// nothing for the standard prices).
fn tier_changes(prefix: &str, older: &[Tier], newer: &[Tier], parts: &mut Vec<String>) {
    if older == newer {
        return;
    }
    if older.is_empty() {
        parts.push(format!("no {prefix}long-context tier"));
    }
    parts.extend(older.iter().map(|tier| {
        format!(
            "{prefix}prompt > {}: {}",
            grouped(tier.above_prompt_tokens),
            input_output(&tier.price)
        )
    }));
}

/// `128,000 tokens in, 16,384 out`, with `?` for a side the data leave out.
fn window_sides(window: ContextWindow) -> String {
    let side = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), grouped);
    format!(
        "{} tokens in, {} out",
        side(window.max_input_tokens),
        side(window.max_output_tokens)
    )
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
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
    if let Some(tier) = args.service_tier
        && tier != ServiceTier::Standard
        && let Ok(price) = estimator.rate(&args.model)
        && !price.service_tiers.contains_key(&tier)
    {
        eprintln!(
            "mamba: note: `{}` has no {} prices: priced at its standard prices",
            args.model,
            tier.name()
        );
    }
    if args.json {
        let value = serde_json::to_value(&cost)
            .map_err(|error| Error::new(format!("could not write the cost as JSON: {error}")))?;
        print_out(&format!("{value:#}\n"))?;
        return Ok(Outcome::Done);
    }
    let heading = match (&cost.priced_as, cost.source) {
        (_, PriceSource::Local) => format!("{} (a local model: free)\n", args.model),
        (Some(entry), _) if *entry != args.model => {
            format!("{} (priced as {entry})\n", args.model)
        }
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

#[cfg(test)]
mod tests {
    use mamba_pricing::{PriceDate, TieredPrice};

    use super::*;

    fn usd(cents: i64) -> Decimal {
        Decimal::new(cents, 2)
    }

    fn day(year: u32, month: u32, date: u32) -> PriceDate {
        PriceDate::from_ymd(year, month, date).unwrap()
    }

    #[test]
    fn scheduled_prices_come_first_and_are_not_called_earlier() {
        let launch = ModelPrice::new(Price::new(usd(1000), usd(4000)), "test");
        let cut = ModelPrice::new(Price::new(usd(200), usd(800)), "test").since(day(2025, 6, 10));
        let batch = cut
            .clone()
            .with_service_tier(
                ServiceTier::Batch,
                TieredPrice::new(Price::new(usd(100), usd(400))),
            )
            .since(day(2026, 10, 14));
        let rise = ModelPrice::new(Price::new(usd(300), usd(800)), "test").since(day(2027, 1, 1));
        let history = [launch, cut, batch.clone(), rise];
        assert_eq!(
            other_periods(&history, &batch),
            "  from 2027-01-01 (scheduled): input $3.00, output $8.00, no batch tier\n  \
             earlier, from 2025-06-10: input $2.00, output $8.00, no batch tier\n  \
             earlier, before that: input $10.00, output $40.00\n"
        );
        assert_eq!(
            other_periods(&history[..1], &history[0]),
            "",
            "a single period has no other"
        );
    }

    #[test]
    fn cache_prices_long_context_tiers_service_prices_and_windows_that_differ_are_named() {
        let tiered = |above: u64| Tier::new(above, Price::new(usd(500), usd(2000)));
        let mut older = ModelPrice::new(Price::new(usd(250), usd(1000)), "test")
            .with_tier(tiered(200_000))
            .with_service_tier(
                ServiceTier::Priority,
                TieredPrice::new(Price::new(usd(400), usd(1600))),
            );
        older.context_window = Some(ContextWindow::new(Some(128_000), None));
        let mut newer = ModelPrice::new(
            Price::new(usd(250), usd(1000))
                .with_cached_input(usd(25))
                .with_cache_write_1h(usd(600)),
            "test",
        )
        .with_service_tier(
            ServiceTier::Priority,
            TieredPrice::new(Price::new(usd(425), usd(1700))),
        )
        .with_service_tier(
            ServiceTier::Flex,
            TieredPrice::new(Price::new(usd(125), usd(500))),
        )
        .with_service_tier(
            ServiceTier::Batch,
            TieredPrice::new(Price::new(usd(125), usd(500))),
        );
        newer.context_window = Some(ContextWindow::new(Some(1_000_000), Some(64_000)));
        assert_eq!(
            differences(&older, &newer),
            [
                "cached input = input",
                "cache write 1h = cache write",
                "prompt > 200,000: input $5.00, output $20.00",
                "priority input $4.00, output $16.00",
                "no flex or batch tier",
                "context window 128,000 tokens in, ? out",
            ]
        );
        assert_eq!(
            differences(&newer, &older),
            [
                "cached input $0.25",
                "cache write 1h $6.00",
                "no long-context tier",
                "flex input $1.25, output $5.00",
                "priority input $4.25, output $17.00",
                "batch input $1.25, output $5.00",
                "context window 1,000,000 tokens in, 64,000 out",
            ]
        );
    }

    #[test]
    fn a_service_tier_that_changed_only_its_cache_price_or_long_context_tier_says_so() {
        let standard = Price::new(usd(125), usd(1000));
        let flex = |cached: i64| Price::new(usd(100), usd(400)).with_cached_input(usd(cached));
        let with_flex = |flex: TieredPrice| {
            ModelPrice::new(standard, "test").with_service_tier(ServiceTier::Flex, flex)
        };
        let older = with_flex(TieredPrice::new(flex(50)));
        let newer = with_flex(
            TieredPrice::new(flex(25))
                .with_tier(Tier::new(200_000, Price::new(usd(200), usd(800)))),
        );
        assert_eq!(
            differences(&older, &newer),
            ["flex cached input $0.50", "no flex long-context tier"]
        );
        assert_eq!(
            differences(&newer, &older),
            [
                "flex cached input $0.25",
                "flex prompt > 200,000: input $2.00, output $8.00"
            ]
        );
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(or_list(&["batch"]), "batch");
        assert_eq!(or_list(&["flex", "priority"]), "flex or priority");
        assert_eq!(
            or_list(&["flex", "priority", "batch"]),
            "flex, priority or batch"
        );
    }
}
