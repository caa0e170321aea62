"""Validate the barcode library CSV before any job relies on it."""

from __future__ import annotations

import polars as pl

from starrynight.config import AnyPath, RemotePath

REQUIRED_COLUMNS = ("sgRNA", "gene_symbol")


class BarcodeLibraryError(Exception):
    """The barcode CSV is missing or malformed."""


def check_barcode_csv(path: AnyPath) -> int:
    """Return the barcode length; raise naming the file and the first bad rows otherwise."""
    if not path.exists():
        raise BarcodeLibraryError(
            f"barcode CSV {path} does not exist (init config: barcode_csv_path)"
        )
    try:
        source = path.open("rb") if isinstance(path, RemotePath) else path
        frame = pl.read_csv(source, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise BarcodeLibraryError(f"barcode CSV {path} cannot be read as CSV: {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BarcodeLibraryError(
            f"barcode CSV {path} lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(frame.columns) or 'none'})"
        )
    if frame.height == 0:
        raise BarcodeLibraryError(f"barcode CSV {path} has no barcodes")
    rows = frame.with_row_index("line", offset=2).select("line", "sgRNA", "gene_symbol")
    bad = rows.filter(pl.col("sgRNA").is_null() | pl.col("sgRNA").str.contains("^[ACGT]+$").not_())
    if bad.height:
        shown = ", ".join(
            f"line {r['line']}: {r['sgRNA']!r}" for r in bad.head(5).iter_rows(named=True)
        )
        raise BarcodeLibraryError(f"barcode CSV {path}: sgRNA must be A/C/G/T only ({shown})")
    no_gene = rows.filter(pl.col("gene_symbol").is_null())
    if no_gene.height:
        lines = ", ".join(str(v) for v in no_gene.get_column("line").head(5))
        raise BarcodeLibraryError(f"barcode CSV {path}: empty gene_symbol on line(s) {lines}")
    lengths = rows.with_columns(n=pl.col("sgRNA").str.len_chars())
    common = lengths.get_column("n").mode().sort()[0]
    odd = lengths.filter(pl.col("n") != common)
    if odd.height:
        shown = ", ".join(
            f"line {r['line']}: {r['sgRNA']} ({r['n']})" for r in odd.head(5).iter_rows(named=True)
        )
        raise BarcodeLibraryError(
            f"barcode CSV {path}: barcodes must all have the same length ({common}); {shown}"
        )
    return int(common)
