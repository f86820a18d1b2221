"""Converts genai-prices' `genai_prices/data.py` to JSON for `cargo xtask prices`.

The data file is Python source that builds objects of genai-prices' own types. Those types need
pydantic, so instead of importing the package this script runs the data file against small
stand-ins that only record their arguments. Nothing is computed here: the prices, names,
dates and constraints are written out as they are, decimals as their exact text.

Usage: python3 genai_prices.py WHEEL OUT.json
"""

import datetime
import decimal
import json
import sys
import zipfile

CLASSES = [
    "Provider", "UsageExtractor", "UsageExtractorMapping", "ModelInfo", "ModelPrice",
    "TieredPrices", "Tier", "ConditionalPrice", "PriceVariant", "StartDateConstraint",
    "TimeOfDateConstraint", "ClauseStartsWith", "ClauseEndsWith", "ClauseContains",
    "ClauseRegex", "ClauseEquals", "ClauseOr", "ClauseAnd", "ArrayMatch",
]


def stand_in(name):
    def build(*args, **kwargs):
        if args:
            kwargs["_args"] = list(args)
        kwargs["_type"] = name
        return kwargs
    return build


def plain(value):
    if isinstance(value, decimal.Decimal):
        return {"_decimal": format(value, "f")}
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def main():
    wheel, out = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("genai_prices/data.py").decode("utf-8")
    source = source.replace("from .types import *", "")
    namespace = {name: stand_in(name) for name in CLASSES}
    exec(compile(source, "genai_prices/data.py", "exec"), namespace)
    with open(out, "w", encoding="utf-8") as file:
        json.dump({"providers": plain(namespace["providers"])}, file, sort_keys=True)


main()
