"""Infer a screen's structure from an index frame: plates, wells, sites, cycles, channels.

Pure functions over polars frames (group-bys, no per-file Python loop). Every inconsistency
raises `InferenceError` naming the plates, wells, sites or cycles at fault, because a
silently "most common" answer is how earlier tools produced wrong LoadData.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

ARMS = ("CP", "SBS")
SHOW = 5  # how many offending items an error message lists before "and N more"


class InferenceError(Exception):
    """The index does not describe one consistent screen."""


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that puts Plate2 before Plate10 and A2 before A10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _listing(items: list[str]) -> str:
    """Up to SHOW items in natural order, then how many more."""
    items = sorted(items, key=natural_key)
    shown = ", ".join(items[:SHOW])
    return shown + (f" and {len(items) - SHOW} more" if len(items) > SHOW else "")


@dataclass(frozen=True)
class ArmLayout:
    """What the index says about one arm."""

    channels: list[str]
    sites_per_well: int
    wells: dict[str, list[str]]
    cycles: list[int]
    magnification: int | None


def single_value(index: pl.DataFrame, column: str) -> str | None:
    """The column's value if it has exactly one non-null value, else None."""
    values = index.get_column(column).drop_nulls().unique()
    return str(values[0]) if values.len() == 1 else None


def check_plate_batches(index: pl.DataFrame) -> None:
    """A plate name must identify one acquisition: the same plate in two batches is ambiguous."""
    ids = ["dataset", "source", "batch"]
    pairs = index.select("plate", *ids).unique()
    if pairs.get_column("plate").is_duplicated().any():
        per_plate = pairs.group_by("plate").agg(
            pl.concat_str([pl.col(c).fill_null("") for c in ids], separator="/").alias("b")
        )
        row = per_plate.filter(pl.col("b").list.len() > 1).sort("plate").row(0, named=True)
        raise InferenceError(
            f"plate '{row['plate']}' appears under several dataset/source/batch folders "
            f"({', '.join(sorted(row['b']))}); index one batch at a time"
        )


def check_names(index: pl.DataFrame) -> None:
    """Plate and well names become unit ids, which name log, benchmark and output files: a
    name they cannot be is refused here, naming the image it comes from."""
    from pipecraft.graph import UNIT_RE

    for column in ("plate", "well"):
        names = index.select(column, "key").unique(column, keep="first").sort(column)
        bad = names.filter(~pl.col(column).str.contains(UNIT_RE.pattern))
        if bad.height:
            name, key = bad.row(0)
            raise InferenceError(
                f"{column} name {name!r} (from {key}) cannot name files: use letters, digits and "
                ". _ + - only, starting with a letter or digit (rename it in the images tree, or "
                "read it with an index pattern that leaves the other characters out)"
            )


def _well_name(frame: pl.DataFrame) -> pl.Expr:
    return pl.format("{}/{}", pl.col("plate"), pl.col("well"))


def _site_channels(arm: pl.DataFrame, label: str) -> pl.DataFrame:
    """One row per (plate, well, site, cycle) with its channel list (its files in index order)."""
    keys = ["plate", "well", "site", "cycle"]
    if arm.select(pl.struct(keys).is_duplicated().any()).item():
        sites = arm.group_by(keys, maintain_order=True).agg(
            pl.col("channels").list.explode(keep_nulls=False, empty_as_null=False)
        )
    else:  # one multi-plane file per site: the usual case, and 1M rows need no group-by
        sites = arm.select(*keys, "channels")
    duplicated = sites.filter(pl.col("channels").list.n_unique() < pl.col("channels").list.len())
    if duplicated.height:
        row = duplicated.row(0, named=True)
        where = f"{row['plate']}/{row['well']} site {row['site']}"
        if row["cycle"] is not None:
            where += f" cycle {row['cycle']}"
        raise InferenceError(
            f"{label} {where} has the same channel in several files/planes: {row['channels']}"
        )
    return sites.with_columns(signature=pl.col("channels").list.join(","))


def _channels(sites: pl.DataFrame, label: str) -> list[str]:
    """The arm's channel list; every site (and every cycle) must have the same one."""
    by_signature = (
        sites.group_by("signature")
        .agg(
            pl.len().alias("n"),
            pl.col("cycle").unique().sort().alias("cycles"),
            _well_name(sites).unique().sort().alias("wells"),
        )
        .sort("n", descending=True)
    )
    if by_signature.height > 1:
        parts = []
        for row in by_signature.iter_rows(named=True):
            where = f"wells {_listing(row['wells'])}"
            cycles = [c for c in row["cycles"] if c is not None]
            if cycles:
                where += f", cycle(s) {_listing([str(c) for c in cycles])}"
            parts.append(f"[{row['signature']}] in {row['n']} site(s) ({where})")
        raise InferenceError(f"{label} channels differ between sites: " + "; ".join(parts))
    return sites.get_column("channels")[0].to_list()


def _check_cycles_present(rows: pl.DataFrame) -> None:
    """Every SBS image needs its cycle: a parser pattern without a `cycle` group gives nulls."""
    missing = rows.filter(pl.col("cycle").is_null())
    if missing.height == 0:
        return
    wells = missing.select(_well_name(missing).unique()).to_series().to_list()
    where = f"well(s) {_listing(wells)}"
    if "key" in missing.columns:
        where += f"; e.g. {', '.join(missing.get_column('key').head(3).to_list())}"
    share = "all" if missing.height == rows.height else f"{missing.height:,} of {rows.height:,}"
    raise InferenceError(
        f"{share} SBS image(s) have no cycle number ({where}); the parser pattern must "
        "capture the cycle of every SBS image in a named group 'cycle'"
    )


def _cycles(sites: pl.DataFrame) -> list[int]:
    """SBS cycles, numerically sorted; a missing cycle (overall or in some well) is an error."""
    _check_cycles_present(sites)
    cycles = sorted(sites.get_column("cycle").unique().to_list())
    missing = sorted(set(range(1, max(cycles) + 1)) - set(cycles))
    if missing:
        raise InferenceError(
            f"SBS cycle(s) {', '.join(map(str, missing))} missing: the index has cycles "
            f"{', '.join(map(str, cycles))} (expected 1..{max(cycles)})"
        )
    per_well = sites.group_by(["plate", "well"]).agg(pl.col("cycle").unique().alias("have"))
    short = per_well.filter(pl.col("have").list.len() < len(cycles)).sort(["plate", "well"])
    if short.height:
        parts = [
            f"{r['plate']}/{r['well']} lacks cycle(s) "
            + ", ".join(str(c) for c in cycles if c not in set(r["have"]))
            for r in short.head(SHOW).iter_rows(named=True)
        ]
        more = f" and {short.height - SHOW} more well(s)" if short.height > SHOW else ""
        raise InferenceError("SBS wells miss cycles: " + "; ".join(parts) + more)
    return cycles


def _sites_per_well(sites: pl.DataFrame, label: str, expected: int | None) -> int:
    """Sites per well (per cycle for SBS); wells that differ from the rest are named."""
    counts = sites.group_by(["plate", "well", "cycle"]).agg(pl.col("site").n_unique().alias("n"))
    per_well = counts.group_by(["plate", "well"]).agg(
        pl.col("n").min().alias("n"), pl.col("n").max().alias("n_max")
    )
    uneven = per_well.filter(pl.col("n") != pl.col("n_max")).sort(["plate", "well"])
    if uneven.height:
        wells = [f"{r['plate']}/{r['well']}" for r in uneven.iter_rows(named=True)]
        raise InferenceError(
            f"{label} wells have different site counts between cycles: {_listing(wells)}"
        )
    groups = (
        per_well.group_by("n")
        .agg(_well_name(per_well).sort().alias("wells"))
        .sort(pl.col("wells").list.len(), descending=True)
    )
    if expected is not None:
        wrong = groups.filter(pl.col("n") != expected)
        if wrong.height:
            parts = [f"{r['n']} in {_listing(r['wells'])}" for r in wrong.iter_rows(named=True)]
            raise InferenceError(
                f"{label} sites_per_well is set to {expected} but wells differ: " + "; ".join(parts)
            )
        return expected
    if groups.height > 1:
        parts = [
            f"{r['n']} site(s) in {len(r['wells'])} well(s) ({_listing(r['wells'])})"
            for r in groups.iter_rows(named=True)
        ]
        raise InferenceError(f"{label} sites per well differ: " + "; ".join(parts))
    return int(groups.get_column("n")[0])


def infer_arm(index: pl.DataFrame, arm: str, sites_per_well: int | None = None) -> ArmLayout:
    """Channels, sites per well, wells per plate and cycles of one arm of the index."""
    rows = index.filter(pl.col("arm") == arm)
    if rows.height == 0:
        raise InferenceError(f"the index has no {arm} images")
    if arm == "SBS":  # before grouping by cycle: null cycles would merge all cycles of a site
        _check_cycles_present(rows)
    mags = rows.get_column("magnification").drop_nulls().unique().sort()
    if mags.len() > 1:
        examples = (
            rows.filter(pl.col("magnification").is_not_null())
            .group_by("magnification")
            .agg(pl.len().alias("n"), pl.col("plate", "well", "site").first())
            .sort("magnification")
        )
        parts = [
            f"{r['magnification']}X: {r['n']} file(s), e.g. {r['plate']}/{r['well']} site {r['site']}"
            for r in examples.iter_rows(named=True)
        ]
        raise InferenceError(
            f"{arm} images were taken at {mags.len()} magnifications ({'; '.join(parts)}); "
            "an arm is imaged at one: move the other acquisition out of the images folder"
        )
    sites = _site_channels(rows, arm)
    channels = _channels(sites, arm)
    cycles = _cycles(sites) if arm == "SBS" else []
    per_site = _sites_per_well(sites, arm, sites_per_well)
    wells = rows.group_by("plate").agg(pl.col("well").unique())
    return ArmLayout(
        channels=channels,
        sites_per_well=per_site,
        wells={r["plate"]: sorted(r["well"], key=natural_key) for r in wells.iter_rows(named=True)},
        cycles=cycles,
        magnification=int(mags[0]) if mags.len() == 1 else None,
    )


def common_wells(cp: ArmLayout, sbs: ArmLayout) -> dict[str, list[str]]:
    """Wells per plate; every well must be imaged in both arms."""
    only: list[str] = []
    plates = sorted(set(cp.wells) | set(sbs.wells), key=natural_key)
    for plate in plates:
        a, b = set(cp.wells.get(plate, [])), set(sbs.wells.get(plate, []))
        only += [f"{plate}/{w} (CP only)" for w in sorted(a - b, key=natural_key)]
        only += [f"{plate}/{w} (SBS only)" for w in sorted(b - a, key=natural_key)]
    if only:
        raise InferenceError(f"wells imaged in only one arm: {_listing(only)}")
    return {plate: cp.wells[plate] for plate in plates}
