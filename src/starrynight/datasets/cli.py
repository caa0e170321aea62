"""`starrynight demo-data`: write a synthetic screen (images + truth) or a large tree of header-only images."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

_TREE_OPTIONS = ("plates", "wells", "cp_sites", "sbs_sites", "cycles")
GEOMETRY_PRESETS = (
    "geometry-tiny",
    "geometry-demo",
    "geometry-round",
    "geometry-nopos",
    "geometry-missing",
)
_SCREEN = {"plates": 9, "wells": 6, "cp_sites": 1364, "sbs_sites": 320, "cycles": 12}


@click.command("demo-data")
@click.option(
    "--preset",
    type=click.Choice(["tiny", "demo", "tree", *GEOMETRY_PRESETS]),
    default="demo",
    show_default=True,
    help="tiny: unit-test size; demo: the first-run dataset; tree: header-only TIFFs with real names; "
    "geometry-*: real screen geometry (a continuous well, CP at 20X and SBS at 10X on their own "
    "tile grids): -tiny, -demo, -round (circular acquisition), -nopos (no stage positions), "
    "-missing (one CP tile absent). Both arms of tiny and demo image the same fields.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to fill: images/ (the images root) and, for tiny/demo, workspace/, "
    "scratch/ and truth/.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--plates", type=click.IntRange(min=1), help="tree only (default 9).")
@click.option("--wells", type=click.IntRange(min=1), help="tree only (default 6).")
@click.option("--cp-sites", type=click.IntRange(min=0), help="tree only (default 1364).")
@click.option("--sbs-sites", type=click.IntRange(min=0), help="tree only (default 320).")
@click.option("--cycles", type=click.IntRange(min=0), help="tree only (default 12).")
def demo_data_command(preset: str, out: Path, seed: int, **tree: int | None) -> None:
    """Generate a synthetic optical pooled screen with known ground truth."""
    given = [name for name, value in tree.items() if value is not None]
    if preset != "tree":
        if given:
            flags = ", ".join("--" + g.replace("_", "-") for g in given)
            raise click.UsageError(f"{flags}: only apply to --preset tree")
        _images(preset, out, seed)
    else:
        _tree(out, {k: _SCREEN[k] if tree[k] is None else tree[k] for k in _TREE_OPTIONS})


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr fed with (done, total); none when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    state: dict[str, click.progressbar] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def _images(preset: str, out: Path, seed: int) -> None:
    from starrynight.datasets.generate import DatasetExistsError, generate_dataset

    start = time.perf_counter()
    try:
        with _progress("sites") as progress:
            info = generate_dataset(out, preset, seed, progress=progress)
    except (DatasetExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or out}: {exc.strerror or exc}") from None
    click.echo(
        f"{info.preset} dataset (seed {info.seed}) in {time.perf_counter() - start:.1f} s: "
        f"{len(info.plates)} plate(s) x {len(info.wells)} wells x {info.cp_sites_per_well} sites, "
        f"{info.cycles} SBS cycles, {info.image_width}x{info.image_height}, {info.n_cells} cells\n"
        f"  images_path:    {info.images_path}\n"
        f"  workspace_path: {info.workspace_path}\n"
        f"  scratch_path:   {info.scratch_path}\n"
        f"  barcodes:       {info.barcode_csv}\n"
        f"  truth:          {info.truth_path}"
    )


def _tree(out: Path, sizes: dict[str, int]) -> None:
    from starrynight.datasets.tree import generate_tree

    start = time.perf_counter()
    try:
        with _progress("files") as progress:
            n = generate_tree(out, **sizes, progress=progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or out}: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - start
    click.echo(
        f"{n} files in {seconds:.1f} s ({n / max(seconds, 1e-9):,.0f} files/s) under "
        f"{out / 'images'}: " + ", ".join(f"{k}={v}" for k, v in sizes.items())
    )
