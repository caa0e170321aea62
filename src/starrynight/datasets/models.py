"""What a generated dataset is: its layout facts and where its parts and ground truth are."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, computed_field

DATASET_JSON = "dataset.json"


class DatasetInfo(BaseModel):
    """Facts of a generated synthetic screen. Paths derive from `root`, so a moved dataset works
    after `read_dataset_info(new_root)`."""

    model_config = ConfigDict(frozen=True)

    root: Path
    preset: str
    seed: int
    dataset: str
    source: str
    batch: str
    plates: list[str]
    wells: list[str]
    cp_sites_per_well: int
    sbs_sites_per_well: int
    cycles: int
    cp_channels: list[str]
    sbs_channels: list[str]
    cp_magnification: str
    sbs_magnification: str
    image_height: int
    image_width: int
    # Spot intensity in observed channel (row, order C,A,T,G) per unit of true base (column).
    crosstalk: list[list[float]]
    library_size: int
    n_cells: int
    geometry: str = "same-field"  # or "well": one continuous field per well, own tile grid per arm
    cp_pixel_size_um: float | None = None
    sbs_pixel_size_um: float | None = None
    overlap_percentage: float | None = None
    stage_positions: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def images_path(self) -> Path:
        return self.root / "images"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def workspace_path(self) -> Path:
        return self.root / "workspace"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scratch_path(self) -> Path:
        return self.root / "scratch"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def barcode_csv(self) -> Path:
        return self.workspace_path / "barcodes.csv"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_path(self) -> Path:
        return self.root / "truth"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_cells(self) -> Path:
        return self.truth_path / "cells.parquet"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_sites(self) -> Path:
        return self.truth_path / "sites.parquet"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_phenotypes(self) -> Path:
        return self.truth_path / "phenotypes.parquet"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_spots(self) -> Path:
        return self.truth_path / "spots.parquet"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truth_tiles(self) -> Path:
        """Well geometry only: one row per acquired tile (arm, cycle, well, site) with its true,
        recorded (OME) and nominal (layout) top-left position in well micrometres."""
        return self.truth_path / "tiles.parquet"

    @property
    def batch_path(self) -> Path:
        return self.images_path / self.dataset / self.source / self.batch

    def facts_json(self) -> str:
        """The JSON of `dataset.json`: every fact, no path (they follow from where it lies)."""
        paths = {"root", *type(self).model_computed_fields}
        return self.model_dump_json(indent=2, exclude=paths)

    def illumination(self, arm: str, channel: str) -> Path:
        """The true illumination field (float32 .npy, max 1) of one channel of an arm (CP or SBS)."""
        return self.truth_path / f"illumination_{arm}_{channel}.npy"


def read_dataset_info(root: Path) -> DatasetInfo:
    """The DatasetInfo of a dataset generated under `root` (which may have moved since)."""
    path = Path(root) / "truth" / DATASET_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no synthetic dataset here (missing {DATASET_JSON})") from None
    return DatasetInfo.model_validate({**data, "root": Path(root)})
