"""Validate the barcode library CSV before any job relies on it."""

from __future__ import annotations

import csv
import difflib

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
    if path.is_dir():
        raise BarcodeLibraryError(
            f"barcode CSV {path} is a folder, not a file (init config: barcode_csv_path)"
        )
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise BarcodeLibraryError(
            f"barcode CSV {path} is not UTF-8 text (UTF-16, or a binary file): save it as UTF-8 CSV"
        )
    repeated = _repeated_columns(head)
    if repeated:
        raise BarcodeLibraryError(
            f"barcode CSV {path}: column(s) {', '.join(repeated)} appear more than once in the "
            "header; which one holds the library is ambiguous"
        )
    try:
        source = path.open("rb") if isinstance(path, RemotePath) else path
        frame = pl.read_csv(source, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as error:
        reason = _ragged_line(path) or str(error).strip().splitlines()[0]
        raise BarcodeLibraryError(f"barcode CSV {path} cannot be read as CSV: {reason}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BarcodeLibraryError(
            f"barcode CSV {path} lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(frame.columns) or 'none'})"
        )
    rows = _numbered(frame).select("line", "sgRNA", "gene_symbol")
    if rows.height == 0:
        raise BarcodeLibraryError(f"barcode CSV {path} has no barcodes")
    bad = rows.filter(pl.col("sgRNA").is_null() | pl.col("sgRNA").str.contains("^[ACGT]+$").not_())
    if bad.height:
        shown = ", ".join(
            f"line {r['line']}: {repr(r['sgRNA']) if r['sgRNA'] else '(empty)'}"
            for r in bad.head(5).iter_rows(named=True)
        )
        raise BarcodeLibraryError(f"barcode CSV {path}: sgRNA must be A/C/G/T only ({shown})")
    no_gene = rows.filter(
        pl.col("gene_symbol").is_null() | (pl.col("gene_symbol").str.strip_chars() == "")
    )
    if no_gene.height:
        lines = ", ".join(str(v) for v in no_gene.get_column("line").head(5))
        raise BarcodeLibraryError(f"barcode CSV {path}: empty gene_symbol on line(s) {lines}")
    broken = rows.filter(pl.col("gene_symbol").str.contains(r"[\r\n\t]"))
    if broken.height:
        lines = ", ".join(str(v) for v in broken.get_column("line").head(5))
        raise BarcodeLibraryError(
            f"barcode CSV {path}: gene_symbol holds a line break or tab (a quoted field) on "
            f"line(s) {lines}"
        )
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


def _ragged_line(path: AnyPath) -> str | None:
    """`line 5 has 3 fields, the header 2` for the first row whose field count differs."""
    with path.open("rb") as handle:
        text = handle.read().decode("utf-8-sig", errors="replace")
    rows = csv.reader(text.splitlines())
    header = next(rows, [])
    for line, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            return f"line {line} has {len(row)} field(s), the header {len(header)}"
    return None


def _repeated_columns(head: bytes) -> list[str]:
    """Header names (in the file's first bytes) given more than once: polars would keep the
    first, a csv.DictReader the last, so two readers would see two libraries."""
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    names = next(csv.reader([first]), [])
    return sorted({n.strip() for n in names if sum(m.strip() == n.strip() for m in names) > 1})


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows with their line in the file; blank lines dropped, as the SBS step's reader
    skips them."""
    rows = frame.with_row_index("line", offset=2)
    return rows.filter(pl.any_horizontal(pl.col(frame.columns).is_not_null()))


def _listing(frame: pl.DataFrame, limit: int = 5) -> str:
    """`'GTCA' (KRAS, line 3)`-style list of library rows, at most `limit` of them."""
    rows = frame.head(limit).iter_rows(named=True)
    shown = ", ".join(f"{r['sgRNA']} ({r['gene_symbol']}, line {r['line']})" for r in rows)
    return shown + (f" and {frame.height - limit} more" if frame.height > limit else "")


def check_library_against_cycles(path: AnyPath, n_cycles: int, allow_collisions: bool) -> None:
    """Refuse a library that cannot name one gene per read of `n_cycles` bases.

    A barcode listed under two genes, or barcodes shorter than the cycles read, are always
    errors. Barcodes of different genes whose first `n_cycles` bases are equal cannot be told
    apart by the reads: an error unless `allow_collisions` (cells reading such a prefix are
    then reported as ambiguous, with no gene).
    """
    source = path.open("rb") if isinstance(path, RemotePath) else path
    rows = _numbered(pl.read_csv(source, infer_schema_length=0)).select(
        "line", "sgRNA", pl.col("gene_symbol").str.strip_chars()
    )
    length = int(rows.get_column("sgRNA").str.len_chars()[0])
    if length < n_cycles:
        raise BarcodeLibraryError(
            f"barcode CSV {path}: barcodes have {length} bases but the SBS arm reads "
            f"{n_cycles} cycles (e.g. {_listing(rows, 3)})"
        )
    genes_per = pl.col("gene_symbol").n_unique().over("_key")
    duplicated = rows.with_columns(_key=pl.col("sgRNA")).filter(genes_per > 1)
    if duplicated.height:
        raise BarcodeLibraryError(
            f"barcode CSV {path}: the same barcode is listed under different genes: "
            f"{_listing(duplicated.sort('_key', 'line'))}"
        )
    if allow_collisions:
        return
    prefixes = rows.with_columns(_key=pl.col("sgRNA").str.slice(0, n_cycles))
    colliding = prefixes.filter(genes_per > 1).sort("_key", "line")
    if colliding.height:
        raise BarcodeLibraryError(
            f"barcode CSV {path}: barcodes of different genes are equal in the {n_cycles} "
            f"cycles read, so reads cannot tell them apart: {_listing(colliding)}; fix the "
            "library, or set allow_barcode_collisions: true to report such cells as ambiguous"
        )


def library_genes(path: AnyPath) -> set[str]:
    """The gene symbols a (checked) library lists."""
    source = path.open("rb") if isinstance(path, RemotePath) else path
    frame = _numbered(pl.read_csv(source, infer_schema_length=0))
    return set(frame.get_column("gene_symbol").drop_nulls().str.strip_chars())


def check_control_gene(path: AnyPath, control_gene: str) -> None:
    """Refuse a library without guides of the control gene: profiles are normalised to each
    plate's controls, so the run would fail only after every image was processed."""
    genes = library_genes(path)
    if control_gene in genes:
        return
    by_case = {g.lower(): g for g in genes}
    close = [
        by_case[g]
        for g in difflib.get_close_matches(control_gene.lower(), by_case, n=3, cutoff=0.5)
    ]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise BarcodeLibraryError(
        f"parameters.profiles.control_gene: the barcode library {path} has no guides of gene "
        f"{control_gene!r} ({len(genes):,} genes{hint}); profiles are normalised to each "
        "plate's control guides, so set parameters.profiles.control_gene to their gene_symbol"
    )
