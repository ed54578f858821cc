"""`--source` and `--licence`: what `import` and `transform` record of a dataset per row."""

from __future__ import annotations

import argparse


def add_provenance_options(p: argparse.ArgumentParser) -> None:
    """--source and --licence, stored on every row (import and transform share them)."""
    p.add_argument(
        "--source", dest="source_name", help="the dataset's name, e.g. databricks-dolly-15k"
    )
    p.add_argument(
        "--licence",
        help="the dataset's licence, e.g. cc-by-sa-3.0 (Dolly) or cc-by-nc-4.0 (Alpaca)",
    )
