//! `mamba price`, `mamba cost` and `mamba prices diff` run as a user runs them, against the
//! built-in table; `--help`, exit statuses and NO_COLOR.

mod support;

use std::process::Command;

use mamba_pricing::CostEstimator;
use serde_json::{Value, json};
use support::*;

#[test]
fn a_price_shows_every_tier_cache_price_service_tier_and_its_history() {
    let run = mamba(&["price", "o3"]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    let checked = CostEstimator::new().rate("o3").unwrap().checked.unwrap();
    assert_eq!(
        run.stdout,
        format!(
            "o3\n  \
             source: genai-prices and LiteLLM (genai-prices 0.2.3 and litellm 1.110.2 (PyPI, MIT)); checked {checked}; in force since 2026-10-14\n  \
             context window: 200,000 tokens in, 100,000 out\n  \
             USD PER 1M TOKENS  INPUT  CACHED INPUT  CACHE WRITE  CACHE WRITE 1H  OUTPUT\n  \
             standard           $2.00         $0.50      = input   = cache write   $8.00\n  \
             flex               $1.00         $0.25      = input   = cache write   $4.00\n  \
             priority           $3.50        $0.875      = input   = cache write  $14.00\n  \
             batch              $1.00         $0.50      = input   = cache write   $4.00\n  \
             earlier, from 2026-10-12: input $2.00, output $8.00, no batch tier\n  \
             earlier, from 2025-06-10: input $2.00, output $8.00, no flex or priority tier\n  \
             earlier, before that: input $10.00, output $40.00\n"
        )
    );
}

#[test]
fn long_context_tiers_and_cache_writes_by_lifetime_are_shown() {
    let run = mamba(&["price", "gemini-2.5-pro", "claude-sonnet-4-6"]);
    assert_eq!(run.status, Some(0));
    assert!(
        run.stdout.contains(
            "  standard, prompt > 200,000   $2.50         $0.25      = input   = cache write  $15.00\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "  standard           $3.00         $0.30        $3.75           $6.00  $15.00\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_model_names_the_closest_known_ones_and_exits_with_one() {
    let run = mamba(&["price", "gpt-4o-mni", "gpt-4o"]);
    assert_eq!(run.status, Some(1));
    assert_eq!(
        run.stderr,
        "mamba: error: no price for model `gpt-4o-mni`; closest known: gpt-4o-mini, gpt-4.1-mini, gpt-5-mini\n"
    );
    assert!(run.stdout.starts_with("gpt-4o\n"), "{}", run.stdout);
    let run = mamba(&[
        "cost",
        "--model",
        "gpt-4o-mni",
        "--input",
        "1",
        "--output",
        "1",
    ]);
    assert_eq!(run.status, Some(1));
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("closest known: gpt-4o-mini"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cost_is_exact_part_by_part() {
    let run = mamba(&[
        "cost", "--model", "gpt-4o", "--input", "12000", "--output", "800", "--cached", "4000",
    ]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    // 8,000 x $2.50 + 4,000 x $1.25 + 800 x $10 per 1M.
    assert_eq!(
        run.stdout,
        "gpt-4o\n\
         PART          TOKENS    COST\n\
         input          8,000   $0.02\n\
         cached input   4,000  $0.005\n\
         cache write        0   $0.00\n\
         output           800  $0.008\n\
         total         12,800  $0.033\n"
    );
    // Cache writes by lifetime (Claude: $3.75 for five minutes, $6 for an hour), a dated name.
    let run = mamba(&[
        "cost",
        "--model",
        "anthropic/claude-sonnet-4-6",
        "--input",
        "3000",
        "--output",
        "0",
        "--cache-write",
        "2000",
        "--cache-write-1h",
        "1000",
        "--json",
    ]);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (
            &value["priced_as"],
            &value["cache_write_cost"],
            &value["input_cost"],
            &value["total_cost"]
        ),
        (
            &json!("claude-sonnet-4-6"),
            &json!("0.00975000"),
            &json!("0.003000"),
            &json!("0.01275000")
        )
    );
}

#[test]
fn a_service_tier_the_model_has_no_prices_for_and_a_local_model_are_said_so() {
    // gpt-4o has no flex prices: its standard ones, with a note; o3's are half its standard.
    let cases = [
        (
            "gpt-4o",
            "mamba: note: `gpt-4o` has no flex prices: priced at its standard prices\n",
            "total          1,010  $0.0026\n",
        ),
        ("o3", "", "total          1,010  $0.00104\n"),
    ];
    for (model, note, total) in cases {
        let args = [
            "cost", "--model", model, "--input", "1000", "--output", "10",
        ];
        let run = mamba(&[&args[..], &["--service-tier", "flex"]].concat());
        assert_eq!(
            (run.status, run.stderr.as_str()),
            (Some(0), note),
            "{model}"
        );
        assert!(run.stdout.ends_with(total), "{model}: {}", run.stdout);
    }

    let run = mamba(&[
        "cost",
        "--model",
        "ollama/llama3",
        "--input",
        "10",
        "--output",
        "5",
    ]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    assert_eq!(
        run.stdout,
        "ollama/llama3 (a local model: free)\n\
         PART          TOKENS   COST\n\
         input             10  $0.00\n\
         cached input       0  $0.00\n\
         cache write        0  $0.00\n\
         output             5  $0.00\n\
         total             15  $0.00\n"
    );
}

#[test]
fn cache_counts_beyond_their_totals_are_usage_errors() {
    let run = mamba(&[
        "cost", "--model", "gpt-4o", "--input", "100", "--output", "1", "--cached", "200",
    ]);
    assert_eq!(run.status, Some(2));
    assert_eq!(
        run.stderr,
        "mamba: error: --cached 200 plus --cache-write 0 exceed --input 100: cache reads and writes are part of the input\n"
    );
    let run = mamba(&[
        "cost",
        "--model",
        "gpt-4o",
        "--input",
        "100",
        "--output",
        "1",
        "--cache-write",
        "10",
        "--cache-write-1h",
        "11",
    ]);
    assert_eq!(run.status, Some(2));
    assert!(
        run.stderr
            .contains("--cache-write-1h 11 exceeds --cache-write 10"),
        "{}",
        run.stderr
    );
    let run = mamba(&[
        "cost", "--model", "gpt-4o", "--input", "-5", "--output", "1",
    ]);
    assert_eq!(run.status, Some(2));
    let run = mamba(&[
        "cost",
        "--model",
        "gpt-4o",
        "--input",
        "1",
        "--output",
        "1",
        "--service-tier",
        "gold",
    ]);
    assert_eq!(run.status, Some(2));
    assert!(
        run.stderr.contains("`gold` is not a service tier"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_price_file_is_compared_with_the_built_in_table_price_by_price() {
    let dir = Scratch::new("diff");
    dir.file(
        "prices.json",
        json!({
            "gpt-4o": {
                "input_cost_per_token": 3e-06, "output_cost_per_token": 1e-05,
                "cache_read_input_token_cost": 1.25e-06,
                "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_priority": 1.7e-05,
                "cache_read_input_token_cost_priority": 2.125e-06,
                "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
                "max_input_tokens": 128000, "max_output_tokens": 16384,
            },
            "acme-1": { "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06 },
        })
        .to_string(),
    );
    let run = mamba_in(&dir.0, &["prices", "diff", "prices.json"], None);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let built_in = CostEstimator::new().all_rates().len();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "STATUS   MODEL   PRICE           BUILT-IN           FILE",
            "new      acme-1  input / output         -  $1.00 / $2.00",
            "changed  gpt-4o  input              $2.50          $3.00",
        ],
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[3..],
        [format!(
            "prices.json: 2 entries read; 1 with other prices than the built-in table, 1 not in it; \
             {} built-in models not in the file (--missing lists them)",
            built_in - 1
        )],
        "{}",
        run.stdout
    );
}

#[test]
fn a_service_tier_only_one_side_prices_is_one_row_and_prices_neither_sets_are_no_difference() {
    // gpt-4o's built-in priority and batch tiers set no cache-write price, and neither does a
    // file without them: that is no difference. A tier the file lacks is one row, not one per
    // price; a tier only the file has is one row too.
    let dir = Scratch::new("diff-tiers");
    dir.file(
        "prices.json",
        json!({
            "gpt-4o": {
                "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                "cache_read_input_token_cost": 1.25e-06,
                "input_cost_per_token_flex": 1.25e-06, "output_cost_per_token_flex": 5e-06,
                "max_input_tokens": 128000, "max_output_tokens": 16384,
            },
        })
        .to_string(),
    );
    let run = mamba_in(&dir.0, &["prices", "diff", "prices.json"], None);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "STATUS   MODEL   PRICE                          BUILT-IN           FILE",
            "changed  gpt-4o  batch input / output      $1.25 / $5.00              -",
            "changed  gpt-4o  flex input / output                   -  $1.25 / $5.00",
            "changed  gpt-4o  priority input / output  $4.25 / $17.00              -",
        ],
        "{}",
        run.stdout
    );
    assert_eq!(lines.len(), 5, "{}", run.stdout);
}

#[test]
fn help_lists_every_subcommand_with_examples() {
    let run = mamba(&["--help"]);
    assert_eq!(run.status, Some(0));
    for command in ["count", "messages", "price", "cost", "prices", "report"] {
        assert!(
            run.stdout.contains(&format!("\n  {command} ")),
            "{command}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("\n  mamba {command} ")),
            "{command}: {}",
            run.stdout
        );
    }
}

#[test]
fn no_color_turns_colour_off_even_where_it_is_forced() {
    let run = |no_color: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mamba"));
        command
            .args(["count", "--jobs", "zero"])
            .env("CLICOLOR_FORCE", "1");
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        command.output().unwrap()
    };
    let coloured = run(false);
    let plain = run(true);
    assert_eq!(
        (coloured.status.code(), plain.status.code()),
        (Some(2), Some(2))
    );
    assert!(String::from_utf8_lossy(&coloured.stderr).contains("\x1b["));
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('\x1b'));
}
