"""The real chain on the tiny dataset: both arms, analysis, the per-cell table, the score."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from starrynight.modules.analysis import analysis_modules
from starrynight.modules.base import get_module
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.direct import run_step_directly
from starrynight.naming import analysis as names
from starrynight.scoring import score_tables

UPSTREAM = ("cp_illum_calc", "cp_illum_apply", "sbs_illum_calc", "sbs_illum_apply", "sbs_preprocess")
REQUIRED = ("batch", "plate", "well", "site", "cell_id", "x", "y", "barcode", "match_score", "gene", "n_foci")


def _job_env() -> dict[str, str]:
    """Like a pipecraft job: this Python's console scripts first on PATH."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}


def _run_fanout(fanout) -> None:
    """Run every unit of a plain fan-out (`{input.X}` alone expands to all of X's paths)."""
    import pipecraft as pc

    for unit in fanout.units:
        subprocess.run(pc.job_argv(fanout, unit.id), check=True, env=_job_env())


@pytest.mark.slow
def test_tiny_screen_end_to_end_assigns_the_right_genes(tiny_workspace, tmp_path: Path) -> None:
    data_config, experiment, info = tiny_workspace
    for step in UPSTREAM:
        trio = tuple(get_module(f"{step}_{stage}") for stage in ("loaddata", "cppipe", "invoke"))
        run_step_directly(*step_modules(trio, data_config, experiment))

    modules, _graph = analysis_modules(data_config, experiment)
    loaddata, cppipe, invoke, join, table = modules
    units = run_step_directly(loaddata, cppipe, invoke)
    assert len(units) == 2  # one per well (2 sites each, 4 sites per unit)
    _run_fanout(join.pipeline)
    subprocess.run([str(a) for a in table.pipeline.argv], check=True, env=_job_env())

    cells = pl.read_parquet(names.cell_table(data_config.workspace_path))
    assert set(REQUIRED) <= set(cells.columns)
    assert any(c.startswith("Cells_Intensity_MeanIntensity_") for c in cells.columns)
    assert any(c.startswith("Nuclei_AreaShape_") for c in cells.columns)
    assert any(c.startswith("Cytoplasm_Intensity_") for c in cells.columns)
    assert cells.select("plate", "well", "site").unique().height == 4

    score = score_tables(info.root, names.cell_table(data_config.workspace_path))
    print(score.report())
    assert score.right_gene_fraction is not None and score.right_gene_fraction >= 0.8
    assert score.wrong_gene_rate is not None and score.wrong_gene_rate <= 0.05
    assert abs(score.nuclei_count_error or 0) <= 0.15
