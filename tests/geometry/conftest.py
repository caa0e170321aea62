"""Well-geometry datasets shared by the geometry tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from starrynight.datasets import DatasetInfo, generate_dataset
from starrynight.datasets.presets import get_preset


@pytest.fixture(scope="session")
def well_dataset(tmp_path_factory: pytest.TempPathFactory):
    """generate(preset) -> DatasetInfo, each preset generated once."""
    made: dict[str, DatasetInfo] = {}

    def generate(preset: str) -> DatasetInfo:
        if preset not in made:
            made[preset] = generate_dataset(tmp_path_factory.mktemp(preset), preset, seed=0)
        return made[preset]

    return generate


def tile_csv(info: DatasetInfo, arm: str, out: Path, well: str = "A1", cycle: int = 1) -> Path:
    """The `site,path` table of one arm of one well (SBS: one cycle)."""
    pattern = "20X_CP_*" if arm == "CP" else f"10X_c{cycle}_SBS-{cycle}"
    files = sorted(info.images_path.rglob(f"{pattern}/Well{well}_Point{well}_*.ome.tiff"))
    table = pl.DataFrame(
        {"site": [int(f.name.split("_")[2]) for f in files], "path": [str(f) for f in files]}
    )
    table.write_csv(out)
    return out


def rows(info: DatasetInfo, arm: str) -> tuple[int, ...]:
    p = get_preset(info.preset)
    return p.cp_rows if arm == "CP" else p.sbs_rows
