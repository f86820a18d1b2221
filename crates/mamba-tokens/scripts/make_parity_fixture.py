#!/usr/bin/env python3
"""Writes tests/fixtures/parity.json: texts and their token counts from OpenAI's Python tiktoken.

The counts are the reference that every mamba-tokens engine must match exactly.

Usage (offline; tiktoken downloads its vocabularies on first use, so we hand it the identical
files that tiktoken-rs ships, under the sha1-of-URL names tiktoken's cache expects):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tiktoken==0.14.0
    /tmp/venv/bin/python scripts/make_parity_fixture.py ~/.cargo/registry/src/*/tiktoken-rs-0.12.1/assets

tiktoken verifies each file's sha256 against its own expected hash, so a wrong file fails loudly.
"""

import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

ENCODINGS = ["o200k_base", "cl100k_base", "p50k_base", "r50k_base"]
URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def seed_cache(assets: Path) -> str:
    cache = tempfile.mkdtemp(prefix="tiktoken-cache-")
    for name in ENCODINGS:
        key = hashlib.sha1(URL.format(name).encode()).hexdigest()
        shutil.copy(assets / f"{name}.tiktoken", Path(cache) / key)
    return cache


def texts() -> list[str]:
    """Hand-written samples of every kind of text an agent sees, plus seeded random mixes."""
    samples = [
        "",
        "Hello, world!",
        "Hello, how are you today?",
        "The quick brown fox jumps over the lazy dog.",
        "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
        "It's the user's choice: they'll decide, we'd help, you're done, I'm sure, we've seen.",
        "IT'S LOUD AND THEY'LL KNOW; We'Re MiXeD cAsE.",
        "fn main() {\n    let total: u64 = (1..=10).map(|n| n * n).sum();\n    println!(\"{total}\");\n}\n",
        "def count(text: str) -> int:\n\treturn len(enc.encode(text))  # tabs\tand spaces\n",
        "SELECT id, name FROM users WHERE created_at >= '2026-11-23' ORDER BY id DESC LIMIT 10;",
        '{"role": "user", "content": "What\'s the weather like in San Francisco?", "n": 3.14159}',
        "<html><body><h1 class=\"title\">Token &amp; cost</h1></body></html>",
        "1234567890 12 345 6789 3.14159265358979 -42 1e-9 0x1F 1,000,000 2026-11-23T22:10:03Z",
        "価格は100円です。東京で日本語のテキストを数えます。",
        "模型的令牌计数必须精确，费用也必须精确到分。",
        "토큰 수를 정확하게 세어야 합니다.",
        "Ünïcödé naïve café résumé Straße über Ærøskøbing ångström",
        "Привет, как дела? Ελληνικά κείμενα. עברית וערבית: مرحبا بالعالم",
        "हिन्दी पाठ और தமிழ் உரை और ไทย ข้อความ",
        "Emoji: 🚀🔥👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🤖 and text 😀😃😄",
        "Special tokens as text: <|endoftext|> <|fim_prefix|> <|fim_middle|> <|fim_suffix|> <|endofprompt|> <|im_start|>user<|im_end|>",
        "<|endoftext|>",
        "   leading and trailing spaces   ",
        "tabs\t\t\tand\r\nCRLF\r\nline\rendings\n\n\n",
        "a" * 1000,
        "ab " * 500,
        " " * 300 + "x",
        "x" + " " * 257 + "y" + "\t" * 99 + "z",
        "\n" * 500 + "end",
        "word.\n\n\n\n/path/to/file\n\n  indented",
        "\u3000\u3000全角スペース\u3000と\u00a0nbsp\u2003em\u2028line\u2029para\u0085nel",
        "mixed   \n   \n\t\n   whitespace   \t  runs  \n",
        "ZWJ\u200dand\u200bzero\u200cwidth\ufeffBOM",
        "Combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937",
        "URL https://example.com/a/b?c=d&e=f#g and email someone@example.org",
        "$0.0001 per request, 45 tokens, €1.234,56 and ¥1000 or £9.99",
        "// comment\n/* block */\n#[derive(Debug)]\nstruct S<'a> { s: &'a str }",
        "....!!!???---___***===+++###",
        "Mr. O'Neil's dog's bone: can't, won't, shouldn't've",
    ]
    rng = random.Random(20261123)
    alphabet = list(" \t\n\r.,;:'\"/-_()[]{}<>!?aAbBzZsStT0123456789éü中文日本🚀\u3000\u00a0")
    for length in (50, 200, 1000, 5000):
        samples.append("".join(rng.choice(alphabet) for _ in range(length)))
    words = ["token", "count", "exact", "Rust", "agent", "模型", "🚀", "   ", "\n", "42", "'s", "/", ".\n"]
    samples.append(" ".join(rng.choice(words) for _ in range(3000)))
    return samples


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.environ["TIKTOKEN_CACHE_DIR"] = seed_cache(Path(sys.argv[1]))
    import tiktoken

    encoders = {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    cases = [
        {"text": text, "counts": {name: len(enc.encode_ordinary(text)) for name, enc in encoders.items()}}
        for text in texts()
    ]
    out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parity.json"
    fixture = {
        "generator": f"scripts/make_parity_fixture.py with tiktoken {tiktoken.__version__}",
        "cases": cases,
    }
    out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
