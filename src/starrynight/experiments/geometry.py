"""Experiment geometry: per arm the magnification, pixel size, acquisition layout and overlap,
and whether the two arms image the same fields.

Inferred from the index (magnification from the folder names, sites per well) and from the
OME-XML of a few files per arm (pixel size, image size, stage positions), and overridable in the
init config under `geometry`. The pipeline pairs CP site k with SBS site k only when the arms
are checked to image the same fields; anything else needs stitching, and a site-paired pipeline
refuses it with the numbers of both arms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight.algorithms.geometry.acquisition import GeometryError, infer_rows
from starrynight.algorithms.geometry.ome import OmeGeometry, read_ome_geometry_at
from starrynight.config import AnyPath, to_path

Pairing = Literal["same-field", "stitch"]
PIXEL_SIZE_TOLERANCE = 0.02  # relative: same objective and camera, rounding in the metadata
POSITION_TOLERANCE = 0.25  # of the field width: same site, same place on the stage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmGeometryOverrides(_Strict):
    """What the user states about one arm's geometry; anything left out is inferred."""

    magnification: int | None = Field(default=None, ge=1)
    pixel_size_um: float | None = Field(default=None, gt=0)
    rows: list[int] | None = Field(
        default=None, min_length=1, description="sites per acquisition row"
    )
    order: Literal["snake", "raster"] | None = None
    overlap_percentage: float | None = Field(default=None, ge=0, lt=100)


class GeometryOverrides(_Strict):
    """Init config `geometry`: per-arm overrides and, optionally, the pairing to insist on."""

    cp: ArmGeometryOverrides = Field(default_factory=ArmGeometryOverrides)
    sbs: ArmGeometryOverrides = Field(default_factory=ArmGeometryOverrides)
    pairing: Pairing | None = None


class ArmGeometry(_Strict):
    """One arm's geometry, with where each fact came from."""

    magnification: int | None
    pixel_size_um: float | None
    sites_per_well: int
    image_shape: tuple[int, int] | None = None
    rows: list[int] | None = None  # None: no known layout for this site count (positions needed)
    order: Literal["snake", "raster"] = "snake"
    overlap_percentage: float
    stage_positions: bool | None = None  # None: not read
    sampled: list[str] = Field(
        default_factory=list, description="index keys whose OME-XML was read"
    )

    @property
    def layout_kind(self) -> str:
        """`square` or `round` from the per-row site counts; `unknown` without a layout."""
        if self.rows is None:
            return "unknown"
        return "square" if len(set(self.rows)) == 1 else "round"

    def describe(self, arm: str) -> str:
        parts = [f"{arm}: {self.sites_per_well} sites/well"]
        if self.magnification is not None:
            parts.append(f"{self.magnification}X")
        if self.pixel_size_um is not None:
            parts.append(f"{self.pixel_size_um:g} µm/px")
        if self.image_shape is not None:
            parts.append(f"{self.image_shape[1]}x{self.image_shape[0]} px")
        if self.rows is not None:
            parts.append(f"{self.layout_kind} {self.order} layout")
        return ", ".join(parts)


class ExperimentGeometry(_Strict):
    """Both arms' geometry and the pairing it allows."""

    cp: ArmGeometry
    sbs: ArmGeometry
    pairing: Pairing
    differences: list[str] = Field(default_factory=list)

    @property
    def read_metadata(self) -> bool:
        return bool(self.cp.sampled and self.sbs.sampled)

    def summary(self) -> str:
        why = f" ({'; '.join(self.differences)})" if self.differences else ""
        return f"{self.cp.describe('CP')}; {self.sbs.describe('SBS')}; pairing {self.pairing}{why}"


def _sample_keys(index: pl.DataFrame, arm: str) -> list[tuple[int, str]]:
    """(site, key) of the first and last site of the first well of an arm (SBS: cycle 1)."""
    rows = index.filter(pl.col("arm") == arm)
    if arm == "SBS":
        rows = rows.filter(pl.col("cycle") == rows.get_column("cycle").min())
    first = rows.sort("plate", "well", "site").row(0, named=True)
    well = rows.filter(
        (pl.col("plate") == first["plate"]) & (pl.col("well") == first["well"])
    ).sort("site")
    picks = well.row(0, named=True), well.row(well.height - 1, named=True)
    return sorted({(r["site"], r["key"]) for r in picks})


def _read_samples(
    images_root: AnyPath, keys: list[tuple[int, str]]
) -> dict[int, OmeGeometry] | None:
    """OME geometry of the sampled files; None when a file cannot be read as an OME-TIFF (e.g.
    the empty files of a scale test), so the arm falls back to what the index says."""
    out = {}
    for site, key in keys:
        try:
            out[site] = read_ome_geometry_at(images_root / key)
        except (ValueError, OSError):
            return None
    return out


def _arm(
    magnification: int | None,
    sites: int,
    overlap: float,
    samples: dict[int, OmeGeometry] | None,
    keys: list[tuple[int, str]],
    given: ArmGeometryOverrides,
) -> ArmGeometry:
    first = next(iter(samples.values())) if samples else None
    rows = given.rows
    if rows is not None and sum(rows) != sites:
        raise GeometryError(
            f"geometry rows {rows} hold {sum(rows)} sites, the index has {sites} per well"
        )
    if rows is None:
        try:
            rows = list(infer_rows(sites))
        except GeometryError:
            rows = None
    return ArmGeometry(
        magnification=given.magnification or magnification,
        pixel_size_um=given.pixel_size_um or (first.pixel_size_um if first else None),
        sites_per_well=sites,
        image_shape=(first.height, first.width) if first else None,
        rows=rows,
        order=given.order or "snake",
        overlap_percentage=overlap
        if given.overlap_percentage is None
        else given.overlap_percentage,
        stage_positions=all(g.position_um is not None for g in samples.values())
        if samples
        else None,
        sampled=[k for _, k in keys] if samples else [],
    )


def _differences(
    cp: ArmGeometry,
    sbs: ArmGeometry,
    cp_samples: dict[int, OmeGeometry] | None,
    sbs_samples: dict[int, OmeGeometry] | None,
) -> list[str]:
    """Why site k of CP and site k of SBS would not be the same field (empty: they are)."""
    out = []
    if cp.sites_per_well != sbs.sites_per_well:
        out.append(f"CP has {cp.sites_per_well} sites per well, SBS {sbs.sites_per_well}")
    if cp.pixel_size_um is not None and sbs.pixel_size_um is not None:
        ratio = sbs.pixel_size_um / cp.pixel_size_um
        if abs(ratio - 1) > PIXEL_SIZE_TOLERANCE:
            out.append(
                f"CP pixels are {cp.pixel_size_um:g} µm, SBS {sbs.pixel_size_um:g} µm (x{ratio:.3g})"
            )
    elif (
        cp.magnification is not None
        and sbs.magnification is not None
        and cp.magnification != sbs.magnification
    ):
        out.append(
            f"CP is imaged at {cp.magnification}X, SBS at {sbs.magnification}X (and no pixel size "
            "in the metadata says the fields are the same)"
        )
    if cp.image_shape and sbs.image_shape and cp.image_shape != sbs.image_shape:
        out.append(
            f"CP images are {cp.image_shape[1]}x{cp.image_shape[0]} px, "
            f"SBS {sbs.image_shape[1]}x{sbs.image_shape[0]} px"
        )
    if (
        cp_samples
        and sbs_samples
        and cp.stage_positions
        and sbs.stage_positions
        and cp.pixel_size_um
    ):
        limit = POSITION_TOLERANCE * cp.image_shape[1] * cp.pixel_size_um  # type: ignore[index]
        for site in sorted(set(cp_samples) & set(sbs_samples)):
            a, b = cp_samples[site].position_um, sbs_samples[site].position_um
            if max(abs(a[0] - b[0]), abs(a[1] - b[1])) > limit:  # type: ignore[index]
                out.append(
                    f"site {site} is at stage (y, x) = ({a[0]:.1f}, {a[1]:.1f}) µm in CP and "  # type: ignore[index]
                    f"({b[0]:.1f}, {b[1]:.1f}) µm in SBS"
                )  # type: ignore[index]
                break
    return out


def infer_geometry(
    index: pl.DataFrame,
    images_root: AnyPath | None,
    cp_magnification: int | None,
    sbs_magnification: int | None,
    cp_sites: int,
    sbs_sites: int,
    overlap: float,
    overrides: GeometryOverrides | None = None,
) -> ExperimentGeometry:
    """Both arms' geometry from the index (needs `key`, `arm`, `plate`, `well`, `site`, `cycle`),
    the OME-XML of the first and last site of one well per arm (when `images_root` is given and
    the files are OME-TIFFs) and the user's overrides; raises GeometryError when the user insists
    on same-field pairing that the data contradict."""
    overrides = overrides or GeometryOverrides()
    samples, keys = {}, {}
    for arm in ("CP", "SBS"):
        keys[arm] = _sample_keys(index, arm) if images_root is not None else []
        samples[arm] = _read_samples(images_root, keys[arm]) if images_root is not None else None
    cp = _arm(cp_magnification, cp_sites, overlap, samples["CP"], keys["CP"], overrides.cp)
    sbs = _arm(sbs_magnification, sbs_sites, overlap, samples["SBS"], keys["SBS"], overrides.sbs)
    differences = _differences(cp, sbs, samples["CP"], samples["SBS"])
    if overrides.pairing == "same-field" and differences:
        raise GeometryError(
            "geometry.pairing is 'same-field' but the arms image different fields: "
            + "; ".join(differences)
        )
    pairing: Pairing = overrides.pairing or ("stitch" if differences else "same-field")
    if pairing == "same-field":
        unpaired = unpaired_sites(index)
        if unpaired:
            raise GeometryError(
                "the arms image the same fields, so CP site k pairs with SBS site k, but "
                f"{unpaired}; rename or remove the images of the odd sites"
            )
    return ExperimentGeometry(cp=cp, sbs=sbs, pairing=pairing, differences=differences)


def unpaired_sites(index: pl.DataFrame, shown: int = 3) -> str | None:
    """The wells whose CP and SBS site numbers differ, as `Plate1/A1 has CP sites 0, 1 and SBS
    sites 0, 3`; None when every well's arms have the same sites."""
    sites = (
        index.select("arm", "plate", "well", "site")
        .unique()
        .group_by("plate", "well", "arm")
        .agg(pl.col("site").sort())
    )
    cp = sites.filter(pl.col("arm") == "CP").drop("arm")
    sbs = sites.filter(pl.col("arm") == "SBS").drop("arm")
    both = cp.join(sbs, on=["plate", "well"], suffix="_sbs").filter(
        pl.col("site") != pl.col("site_sbs")
    )
    if both.height == 0:
        return None

    def listed(values: list[int]) -> str:
        return ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")

    rows = both.sort("plate", "well").head(shown).iter_rows(named=True)
    found = "; ".join(
        f"{r['plate']}/{r['well']} has CP sites {listed(r['site'])} and SBS sites {listed(r['site_sbs'])}"
        for r in rows
    )
    more = f" (and {both.height - shown} more wells)" if both.height > shown else ""
    return found + more


def images_root_hint(manifest: dict) -> AnyPath | None:
    """Where the images were when the index was built, if that folder is still there: used only
    to sample a few files' OME-XML; the pipeline re-checks against its own images path."""
    root = manifest.get("images_root_at_build")
    if not root:
        return None
    path = to_path(root)
    return path if isinstance(path, Path) and path.is_dir() else None


def site_pairing_error(geometry: ExperimentGeometry) -> str | None:
    """The message that stops a site-paired pipeline, or None when sites may be paired."""
    if geometry.pairing == "same-field":
        return None
    why = "; ".join(geometry.differences) or "geometry.pairing is 'stitch'"
    return (
        f"the CP and SBS arms image different fields ({geometry.cp.describe('CP')}; "
        f"{geometry.sbs.describe('SBS')}: {why}); this pipeline pairs CP site k with SBS site k, "
        "which would assign cells the genes of unrelated fields. Such a screen needs stitching "
        "(starrynight stitch), which this pipeline does not run yet"
    )


def _as_overrides(geometry: ExperimentGeometry) -> GeometryOverrides:
    """The facts of an inferred geometry as overrides, so that inferring again keeps them."""

    def arm(g: ArmGeometry) -> ArmGeometryOverrides:
        return ArmGeometryOverrides(
            magnification=g.magnification,
            pixel_size_um=g.pixel_size_um,
            rows=g.rows,
            order=g.order,
            overlap_percentage=g.overlap_percentage,
        )

    insisted = geometry.pairing == "stitch" and not geometry.differences
    return GeometryOverrides(
        cp=arm(geometry.cp), sbs=arm(geometry.sbs), pairing="stitch" if insisted else None
    )


def require_site_pairing(
    geometry: ExperimentGeometry | None,
    index_path: AnyPath,
    images_root: AnyPath | None,
    overlap: float,
) -> ExperimentGeometry:
    """The geometry a site-paired pipeline may run on, else GeometryError with both arms' numbers.

    When the experiment's geometry was inferred without reading any file's metadata (or not at
    all: an experiment file of an older version), it is inferred again from the index and the
    pipeline's images root first."""
    from starrynight.experiments.inference import infer_arm
    from starrynight.index_table import load_index

    if geometry is None or (not geometry.read_metadata and images_root is not None):
        index = load_index(
            index_path,
            [
                "key",
                "arm",
                "plate",
                "well",
                "site",
                "cycle",
                "magnification",
                "dataset",
                "source",
                "batch",
                "channels",
            ],
        )
        cp, sbs = infer_arm(index, "CP"), infer_arm(index, "SBS")
        geometry = infer_geometry(
            index,
            images_root,
            cp.magnification,
            sbs.magnification,
            cp.sites_per_well,
            sbs.sites_per_well,
            overlap,
            _as_overrides(geometry) if geometry else None,
        )
    error = site_pairing_error(geometry)
    if error:
        raise GeometryError(error)
    return geometry
