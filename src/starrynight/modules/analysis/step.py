"""Analysis, CellProfiler part: register CP to SBS, segment, measure, save the cell labels.

Per site (unit of work: site chunks of a well, like the other per-well steps) CellProfiler
loads the corrected CP channels (cp_illum_apply) and the aligned SBS cycle-1 nuclear image
(sbs_illum_apply), measures the shift that moves the CP nuclei onto the SBS nuclei (Align),
segments nuclei, cells and cytoplasm on CP, measures intensity and size/shape, exports
per-object CSVs plus Image.csv (with the shift) and saves the Cells label image. The foci
are joined to the cells afterwards in plain Python (`join.py`, `analysis_join`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import CPStep
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.cp_illum_apply.step import (
    CPIllumApplyParameters,
    channel_names,
    corrected_names,
)
from starrynight.modules.sbs_illum_apply.step import SBSIllumApplyParameters
from starrynight.naming import analysis as names
from starrynight.naming import cp as cp_names
from starrynight.naming import sbs as sbs_names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Pipeline

SBS_NUCLEI = "SBSNuclei"


class AnalysisParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    sites_per_unit: int = Field(16, ge=0, description="sites per unit of work; 0: one unit per well")
    cp_sites_per_unit: int = Field(
        CPIllumApplyParameters.model_fields["sites_per_unit"].default, ge=0,
        description="sites_per_unit of cp_illum_apply (which of its unit folders holds a site)",
    )
    sbs_sites_per_unit: int = Field(
        SBSIllumApplyParameters.model_fields["sites_per_unit"].default, ge=0,
        description="sites_per_unit of sbs_illum_apply and sbs_preprocess",
    )
    nucleus_min_diameter: int = Field(10, ge=1, description="typical smallest nucleus, px (sets declumping)")
    nucleus_max_diameter: int = Field(30, ge=2, description="typical largest nucleus, px")
    declump_method: Literal["Intensity", "Shape"] = Field(
        "Shape", description="how touching nuclei are told apart"
    )
    nuclei_threshold_method: Literal["Otsu", "Minimum Cross-Entropy"] = Field(
        "Minimum Cross-Entropy", description="nuclei threshold"
    )
    focus_reach: float = Field(
        4.0, ge=0, description="foci up to this many px outside a segmented cell count for the nearest cell"
    )


def _sites(experiment: Any) -> dict[tuple[str, str], int]:
    """Sites per well analysed: those imaged in both arms. This version pairs CP site k with
    SBS site k (same field, SPEC 8); mapping CP sites onto fewer, larger SBS sites comes later."""
    paired = min(experiment.cp.sites_per_well, experiment.sbs.sites_per_well)
    return {(plate, well): paired for plate in experiment.plates for well in experiment.wells[plate]}


def units(experiment: Any, params: AnalysisParameters) -> list[UnitOfWork]:
    sites = _sites(experiment)
    return [UnitOfWork(id=u) for u in ld.plan_unit_ids(sites, "well", params.sites_per_unit)]


def site_table(experiment: Any, params: AnalysisParameters) -> pl.DataFrame:
    """batch, plate, well, site, site_rank and unit of every CP site the experiment has."""
    rows = [{"batch": experiment.batch or "", "plate": plate, "well": well, "site": site}
            for (plate, well), count in sorted(_sites(experiment).items()) for site in range(count)]  # fmt: skip
    frame = ld.with_site_rank(pl.DataFrame(rows, schema={"batch": pl.String, "plate": pl.String,
                                                         "well": pl.String, "site": pl.Int64}))  # fmt: skip
    return frame.with_columns(
        unit=ld.unit_ids(pl.col("plate"), pl.col("well"), pl.col("site_rank"), "well", params.sites_per_unit)
    )


def cp_image_names(experiment: Any) -> dict[str, str]:
    """CP channel -> CellProfiler image name of its corrected image (as cp_illum_apply names it)."""
    return corrected_names(experiment)


def chunk_unit(plate: str, well: str, site_rank: int, sites_per_unit: int) -> str:
    """The unit of a site under the well-chunk rule of `loaddata.plan_unit_ids(..., "well", n)`."""
    if sites_per_unit <= 0:
        return naming.unit_id(plate, well)
    return naming.unit_id(plate, well, f"{site_rank // sites_per_unit:04d}")


def _cp_image(workspace: Path, row: dict, params: AnalysisParameters, channel: str, experiment: Any) -> Path:
    """cp_illum_apply's corrected image of a site and CP channel."""
    unit = chunk_unit(row["plate"], row["well"], row["site_rank"], params.cp_sites_per_unit)
    folder = naming.unit_dir(naming.outputs_dir(workspace, CP_ILLUM_APPLY), unit)
    name = channel_names(experiment)[channel]
    return folder / cp_names.corrected_image(row["plate"], row["well"], row["site"], name)


def _sbs_nuclei(workspace: Path, row: dict, params: AnalysisParameters, experiment: Any) -> Path:
    return sbs_names.aligned_image_path(
        workspace, row["plate"], row["well"], row["site"], row["site_rank"], params.sbs_sites_per_unit,
        experiment.sbs.cycles[0], experiment.sbs.nuclear_channel,
    )  # fmt: skip


def loaddata_frame(workspace: Path, experiment: Any, params: AnalysisParameters) -> pl.DataFrame:
    """One LoadData row per site: corrected CP channels and the aligned SBS cycle-1 nuclei."""
    images = {name: lambda row, ch=ch: _cp_image(workspace, row, params, ch, experiment)
              for ch, name in cp_image_names(experiment).items()}  # fmt: skip
    images[SBS_NUCLEI] = lambda row: _sbs_nuclei(workspace, row, params, experiment)
    out = []
    for row in site_table(experiment, params).iter_rows(named=True):
        record: dict[str, Any] = {"Metadata_Batch": row["batch"], "Metadata_Plate": row["plate"],
                                  "Metadata_Well": row["well"], "Metadata_Site": row["site"]}  # fmt: skip
        for name, path_of in images.items():
            path = path_of(row)
            record |= {f"FileName_{name}": path.name, f"PathName_{name}": str(path.parent), f"Frame_{name}": 0}
        out.append(record | {"unit": row["unit"]})
    return pl.DataFrame(out)


def write_loaddata(
    index: pl.DataFrame, experiment: Any, params: AnalysisParameters, images_root: Path, out_dir: Path
) -> list[Path]:
    """One CSV per unit; rows point at earlier steps' outputs in the workspace (not at the index)."""
    frame = loaddata_frame(ld.step_workspace(out_dir, names.ANALYSIS), experiment, params)
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def build_cppipe(experiment: Any, params: AnalysisParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    corr = cp_image_names(experiment)
    nuclear, cell = corr[experiment.cp.nuclear_channel], corr[experiment.cp.cell_channel]
    objects = list(names.OBJECTS)
    return cp.Pipeline(modules=[
        cp.load_data(),
        cp.align((SBS_NUCLEI, f"Aligned{SBS_NUCLEI}"), (nuclear, names.REGISTERED_CP_NUCLEI),
                 method="Normalized Cross Correlation"),
        cp.identify_primary_objects(
            nuclear, names.NUCLEI, (params.nucleus_min_diameter, params.nucleus_max_diameter),
            threshold_method=params.nuclei_threshold_method,
            extra={"Method to distinguish clumped objects": params.declump_method,
                   "Discard objects touching the border of the image?": False,
                   "Discard objects outside the diameter range?": False}),
        cp.identify_secondary_objects(names.NUCLEI, names.CELLS, cell),
        cp.identify_tertiary_objects(names.CELLS, names.NUCLEI, names.CYTOPLASM),
        cp.measure_object_intensity(list(corr.values()), objects),
        cp.measure_object_size_shape(objects, extra={"Calculate the Zernike features?": False}),
        cp.Module(name="ConvertObjectsToImage", settings={
            "Select the input objects": names.CELLS, "Name the output image": "CellLabels",
            "Select the color format": "uint16"}),
        cp.save_images("CellLabels", single_name=names.cell_labels_pattern(), bit_depth="No conversion",
                       extra={"Save with lossless compression?": False}),
        cp.export_to_spreadsheet(),
    ])  # fmt: skip


def expected_outputs(experiment: Any, params: AnalysisParameters) -> list[str]:
    tables = [names.image_table_file(), *(names.object_table_file(o) for o in names.OBJECTS)]
    return [*tables, names.cell_labels_glob()]


def upstream(
    workspace: Path, experiment: Any, params: AnalysisParameters, units: list[UnitOfWork]
) -> dict[str, dict[str, list[Path]]]:
    """Per unit, the unit folders of cp_illum_apply and sbs_illum_apply holding its images."""
    dirs: dict[str, tuple[set[Path], set[Path]]] = {}
    for row in site_table(experiment, params).iter_rows(named=True):
        cp_dirs, sbs_dirs = dirs.setdefault(row["unit"], (set(), set()))
        cp_dirs.add(_cp_image(workspace, row, params, experiment.cp.nuclear_channel, experiment).parent)
        sbs_dirs.add(_sbs_nuclei(workspace, row, params, experiment).parent)
    return {
        unit.id: {"cp_images": sorted(dirs[unit.id][0]), "sbs_images": sorted(dirs[unit.id][1])}
        for unit in units if unit.id in dirs
    }


ANALYSIS_STEP = CPStep(
    name=names.ANALYSIS,
    cli_path=("analysis",),
    Parameters=AnalysisParameters,
    loaddata_writer="starrynight.modules.analysis.step:write_loaddata",
    cppipe_builder="starrynight.modules.analysis.step:build_cppipe",
    units=units,
    upstream=upstream,
    expected_outputs=expected_outputs,
)
