//! The `mamba` binary as users run it: `mamba count` on 100 MB of mixed text on one thread
//! and on all cores (the target: at least 1.8x on 2 cores, with identical counts), and the
//! start-up of `mamba price gpt-4o` (the target: under 50 ms).

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MEGABYTES: usize = 100;

/// 100 MB of prose, code, numbers, non-ASCII text, blank and long lines, written once.
fn mixed_text_file() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mixed-100mb.txt");
    if std::fs::metadata(&path).is_ok_and(|meta| meta.len() >= (MEGABYTES << 20) as u64) {
        return path;
    }
    let paragraph = "Tokenizers cut text into pieces; the pieces' counts must add up exactly.\n\
                     fn main() { let total: u64 = (1..=42).sum(); println!(\"{total}\"); }\n\n\
                     Prix: 12,50 € — naïve café, 東京の天気, Ελληνικά κείμενα.\n    indented line\r\n\
                     12345678901234567890 !!! ??? ... https://example.com/a/b?c=d\n";
    let mut text = String::with_capacity((MEGABYTES << 20) + 4096);
    let mut line = 0_usize;
    while text.len() < MEGABYTES << 20 {
        text.push_str(paragraph);
        line += 1;
        if line.is_multiple_of(500) {
            text.push_str(&"word ".repeat(2_000));
            text.push('\n');
        }
    }
    std::fs::write(&path, text).expect("the benchmark's input could not be written");
    path
}

fn mamba(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mamba"))
        .args(args)
        .output()
        .expect("mamba did not start");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("mamba printed text")
}

fn count(c: &mut Criterion) {
    let file = mixed_text_file();
    let file = file.to_str().expect("a UTF-8 path");
    let cores = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .to_string();
    // The counts must not depend on the threads.
    let one = mamba(&["count", file, "--jobs", "1", "--json"]);
    let all = mamba(&["count", file, "--jobs", &cores, "--json"]);
    assert_eq!(one, all);
    let mut group = c.benchmark_group("mamba_count_100mb");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((MEGABYTES << 20) as u64));
    group.bench_function("1_thread", |b| {
        b.iter(|| mamba(&["count", file, "--jobs", "1"]))
    });
    group.bench_function("all_cores", |b| b.iter(|| mamba(&["count", file])));
    group.finish();
}

fn startup(c: &mut Criterion) {
    c.bench_function("mamba_price_gpt-4o", |b| {
        b.iter(|| mamba(&["price", "gpt-4o"]))
    });
}

criterion_group!(benches, count, startup);
criterion_main!(benches);
