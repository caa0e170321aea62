"""CP illumination calculation on the tiny screen with real CellProfiler."""

from __future__ import annotations

import numpy as np
import polars as pl
import tifffile

from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.cp_illum_calc import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)
from starrynight.modules.direct import run_step_directly

TRIO = (CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule)


def test_units_are_plates_and_spec_is_printable(tiny_screen):
    data_config, experiment, _ = tiny_screen
    module = CPIllumCalcGenLoadDataModule.from_config(data_config, experiment)
    assert [u.id for u in module.uow] == experiment.plates
    text = str(module.spec)
    assert "filter_size" in text and "loaddata" in text


def test_editing_a_parameter_changes_the_generated_commands(tiny_screen):
    data_config, experiment, _ = tiny_screen
    module = CPIllumCalcGenCPipeModule.from_config(data_config, experiment)
    before = list(module.pipeline.argv)
    module.spec.parameters.filter_size = 33
    after = list(module.pipeline.argv)
    assert before != after and "33" in after


def test_illumination_functions_from_real_cellprofiler(tiny_workspace):
    data_config, experiment, info = tiny_workspace
    outputs = run_step_directly(*step_modules(TRIO, data_config, experiment))
    assert set(outputs) == set(experiment.plates)

    csv = pl.read_csv(data_config.workspace_path / "cp_illum_calc" / "loaddata" / "Plate1.csv")
    assert csv.height == len(info.wells) * info.cp_sites_per_well
    assert csv["Frame_OrigMitoTracker"].unique().to_list() == [2]

    raw_sites = sorted(info.images_path.rglob("*_CP_*/*.ome.tiff"))
    ratios = []
    for plane, channel in enumerate(experiment.cp.channels):
        illum = np.load(outputs["Plate1"] / f"Illum{channel}.npy")
        assert illum.shape == (info.image_height, info.image_width)
        assert np.isfinite(illum).all() and illum.min() >= 1.0 - 1e-6  # rescaled: min 1
        truth = np.load(info.illumination("CP", channel))
        assert np.corrcoef(illum.ravel(), truth.ravel())[0, 1] > 0.8, channel
        for site in raw_sites:
            raw = tifffile.imread(site)[plane].astype(float)
            ratio = unevenness(raw / illum) / unevenness(raw)
            assert ratio < 1.0, (channel, site.name)  # every corrected image is flatter
            ratios.append(ratio)
    assert np.mean(ratios) < 0.6, ratios  # and on average markedly so


def unevenness(image: np.ndarray, blocks: int = 4) -> float:
    """Spread of the background (5th percentile) across blocks of the image, relative to its mean."""
    h, w = image.shape
    levels = [
        np.percentile(image[i * h // blocks:(i + 1) * h // blocks, j * w // blocks:(j + 1) * w // blocks], 5)
        for i in range(blocks) for j in range(blocks)
    ]  # fmt: skip
    return float(np.std(levels) / np.mean(levels))
