"""The SBS arm chained on the tiny screen with real CellProfiler, scored against the generator's truth.

sbs_illum_calc -> sbs_illum_apply (alignment to cycle 1) -> sbs_preprocess (barcode calls), run
once for this module. Checks: every cycle reads its own files, the exported alignment shifts
recover the known per-cycle shifts, the called barcodes of foci match the truth barcode of the
spot they sit on.
"""

from __future__ import annotations

import re
import shutil
import time

import numpy as np
import polars as pl
import pytest
import tifffile
from scipy.spatial import cKDTree

from starrynight import naming
from starrynight.config import DataConfig
from starrynight.manifest import read_manifests
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.direct import run_step_directly
from starrynight.modules.sbs_illum_apply import (
    SBSIllumApplyGenCPipeModule,
    SBSIllumApplyGenLoadDataModule,
    SBSIllumApplyInvokeCPModule,
)
from starrynight.modules.sbs_illum_calc import (
    SBSIllumCalcGenCPipeModule,
    SBSIllumCalcGenLoadDataModule,
    SBSIllumCalcInvokeCPModule,
)
from starrynight.modules.sbs_preprocess import (
    SBSPreprocessGenCPipeModule,
    SBSPreprocessGenLoadDataModule,
    SBSPreprocessInvokeCPModule,
)
from starrynight.naming import sbs as names

STEPS = {
    names.SBS_ILLUM_CALC: (SBSIllumCalcGenLoadDataModule, SBSIllumCalcGenCPipeModule, SBSIllumCalcInvokeCPModule),
    names.SBS_ILLUM_APPLY: (SBSIllumApplyGenLoadDataModule, SBSIllumApplyGenCPipeModule, SBSIllumApplyInvokeCPModule),
    names.SBS_PREPROCESS: (SBSPreprocessGenLoadDataModule, SBSPreprocessGenCPipeModule, SBSPreprocessInvokeCPModule),
}
CYCLE_FOLDER = re.compile(r"_c(\d+)_SBS-(\d+)(?:_|/|$)")
FOCUS_RADIUS = 2.5  # px: a truth spot is found if a focus centre lies this close


@pytest.fixture(scope="module")
def sbs_run(tiny_screen, tmp_path_factory):
    """The three SBS steps run once in a private workspace: (DataConfig, experiment, info, seconds)."""
    data_config, experiment, info = tiny_screen
    root = tmp_path_factory.mktemp("sbs")
    shutil.copytree(data_config.workspace_path, root / "workspace")
    private = DataConfig(workspace_path=root / "workspace", images_path=data_config.images_path,
                         scratch_path=root / "scratch")  # fmt: skip
    seconds = {}
    for step, trio in STEPS.items():
        start = time.perf_counter()
        outputs = run_step_directly(*step_modules(trio, private, experiment))
        seconds[step] = (time.perf_counter() - start, len(outputs))
    for step, (wall, n) in seconds.items():
        print(f"{step}: {n} CellProfiler invocations, {wall:.1f} s wall incl. LoadData + cppipe")
    return private, experiment, info, seconds


def csvs(workspace, step) -> pl.DataFrame:
    return pl.concat(
        [pl.read_csv(p, infer_schema_length=0) for p in sorted(naming.loaddata_dir(workspace, step).glob("*.csv"))]
    )


def outputs(workspace, step, table) -> pl.DataFrame:
    paths = sorted(naming.outputs_dir(workspace, step).glob(f"*/{table}"))
    return pl.concat([pl.read_csv(p, infer_schema_length=0) for p in paths], how="diagonal")


def test_every_cycle_reads_its_own_cycle(sbs_run):
    data_config, experiment, info, _ = sbs_run
    ws = data_config.workspace_path
    apply_csv = csvs(ws, names.SBS_ILLUM_APPLY)
    for cycle in experiment.sbs.cycles:
        for channel in info.sbs_channels:
            paths = apply_csv[f"PathName_{names.cycle_image(cycle, channel)}"]
            assert {tuple(map(int, CYCLE_FOLDER.search(p).groups())) for p in paths} == {(cycle, cycle)}
    pre_csv = csvs(ws, names.SBS_PREPROCESS)
    for row in pre_csv.iter_rows(named=True):
        for cycle in experiment.sbs.cycles:
            for base in "ACGT":
                file = row[f"FileName_Cycle{cycle:02d}_{base}"]
                assert file == names.aligned_image_file(
                    row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"], cycle,
                    experiment.sbs.base_channels[base])  # fmt: skip
                assert (ws.parent / row[f"PathName_Cycle{cycle:02d}_{base}"] / file).is_file()


def aligned_image(workspace, well: str, site: int, cycle: int, channel: str) -> str:
    """Where sbs_illum_apply published one aligned image (its manifests say)."""
    folder = naming.outputs_dir(workspace, names.SBS_ILLUM_APPLY)
    published = read_manifests(sorted(naming.unit_manifest(d) for d in folder.iterdir() if d.is_dir()))
    row = published.filter((pl.col("kind") == "image") & (pl.col("name") == channel) & (pl.col("well") == well)
                           & (pl.col("site") == site) & (pl.col("cycle") == cycle))  # fmt: skip
    assert row.height == 1, (well, site, cycle, channel)
    return row["path"][0]


def test_aligned_images_are_16_bit_and_named_by_naming(sbs_run):
    data_config, experiment, info, _ = sbs_run
    for site in range(info.sbs_sites_per_well):
        for cycle in experiment.sbs.cycles:
            image = tifffile.imread(aligned_image(data_config.workspace_path, "A2", site, cycle, "T"))
            assert image.dtype == np.uint16 and image.shape == (info.image_height, info.image_width)
            assert image.max() > 1000


def test_alignment_recovers_the_known_shifts(sbs_run):
    data_config, experiment, info, _ = sbs_run
    table = outputs(data_config.workspace_path, names.SBS_ILLUM_APPLY, names.image_table_file())
    truth = pl.read_parquet(info.truth_sites)
    nuclear = experiment.sbs.nuclear_channel
    errors = []
    for site in truth.iter_rows(named=True):
        row = table.filter((pl.col("Metadata_Well") == site["well"]) & (pl.col("Metadata_Site") == str(site["site"])))
        assert row.height == 1
        for cycle in experiment.sbs.cycles[1:]:
            # a feature at cycle-1 (y, x) shows in cycle k moved by the difference of the truth shifts
            want_x = site["shift_dx"][cycle - 1] - site["shift_dx"][0]
            want_y = site["shift_dy"][cycle - 1] - site["shift_dy"][0]
            got_x = float(row[names.alignment_shift_feature(cycle, nuclear, "X")][0])
            got_y = float(row[names.alignment_shift_feature(cycle, nuclear, "Y")][0])
            errors += [abs(got_x - want_x), abs(got_y - want_y)]
    print(f"alignment: {len(errors) // 2} site-cycles, max error {max(errors):.2f} px, mean {np.mean(errors):.2f} px")
    assert max(errors) <= 1.0


def test_alignment_score_is_the_correlation_of_aligned_nuclei_with_cycle_1(sbs_run):
    """The per-cycle score is near 1 after alignment, equals the Pearson correlation of the
    saved aligned images, and is lower for the same images left unaligned."""
    data_config, experiment, info, _ = sbs_run
    table = outputs(data_config.workspace_path, names.SBS_ILLUM_APPLY, names.image_table_file())
    nuclear = experiment.sbs.nuclear_channel
    truth = pl.read_parquet(info.truth_sites).filter(pl.col("well") == "A2")
    for site in truth.iter_rows(named=True):
        row = table.filter((pl.col("Metadata_Well") == "A2") & (pl.col("Metadata_Site") == str(site["site"])))

        def aligned(cycle: int, s=site["site"]) -> np.ndarray:
            return tifffile.imread(aligned_image(data_config.workspace_path, "A2", s, cycle, nuclear)).astype(float)

        reference = aligned(1)
        for cycle in experiment.sbs.cycles[1:]:
            score = float(row[names.alignment_correlation_feature(cycle, nuclear)][0])
            image = aligned(cycle)
            assert score > 0.9
            assert abs(score - np.corrcoef(reference.ravel(), image.ravel())[0, 1]) < 0.02
            # undo the alignment: move the image back by the shift that was recovered
            dy = round(site["shift_dy"][cycle - 1] - site["shift_dy"][0])
            dx = round(site["shift_dx"][cycle - 1] - site["shift_dx"][0])
            if dy or dx:
                unaligned = np.roll(image, (dy, dx), axis=(0, 1))
                assert np.corrcoef(reference.ravel(), unaligned.ravel())[0, 1] < score


def test_called_barcodes_match_the_truth_spots(sbs_run):
    data_config, experiment, info, _ = sbs_run
    foci = outputs(data_config.workspace_path, names.SBS_PREPROCESS, names.foci_table_file())
    for column in (names.FOCI_X, names.FOCI_Y, names.FOCI_CALLED, names.FOCI_QUALITY, names.FOCI_MATCHED,
                   names.FOCI_GENE, names.FOCI_SCORE, "Metadata_Plate", "Metadata_Well", "Metadata_Site"):  # fmt: skip
        assert column in foci.columns
    spots = pl.read_parquet(info.truth_spots).filter("in_all_sbs_frames")
    found = right = 0
    for site in pl.read_parquet(info.truth_sites).iter_rows(named=True):
        here = (pl.col("well") == site["well"]) & (pl.col("site") == site["site"])
        truth = spots.filter(here)
        calls = foci.filter((pl.col("Metadata_Well") == site["well"]) & (pl.col("Metadata_Site") == str(site["site"])))
        # aligned images are in cycle-1 coordinates: truth (CP) position + cycle-1 shift
        where = np.c_[truth["y"].to_numpy() + site["shift_dy"][0], truth["x"].to_numpy() + site["shift_dx"][0]]
        centres = np.c_[calls[names.FOCI_Y].cast(pl.Float64).to_numpy(), calls[names.FOCI_X].cast(pl.Float64).to_numpy()]
        distance, nearest = cKDTree(centres).query(where)
        hit = distance <= FOCUS_RADIUS
        called = calls[names.FOCI_CALLED].to_numpy()[nearest[hit]]
        found += int(hit.sum())
        right += int((called == truth["barcode"].to_numpy()[hit]).sum())
    print(f"barcodes: {found}/{spots.height} truth spots found ({found / spots.height:.1%}); "
          f"{right}/{found} called right ({right / found:.1%})")  # fmt: skip
    assert found >= 0.8 * spots.height
    assert right >= 0.9 * found


def test_matched_genes_come_from_the_library(sbs_run):
    data_config, _, info, _ = sbs_run
    foci = outputs(data_config.workspace_path, names.SBS_PREPROCESS, names.foci_table_file())
    library = pl.read_csv(info.barcode_csv)
    perfect = foci.filter(pl.col(names.FOCI_SCORE).cast(pl.Float64) == 1.0)
    assert perfect.height >= 0.8 * foci.height
    genes = dict(zip(library["sgRNA"].str.slice(0, 3), library["gene_symbol"], strict=False))
    assert all(genes[b] == g for b, g in zip(perfect[names.FOCI_MATCHED], perfect[names.FOCI_GENE], strict=True))
