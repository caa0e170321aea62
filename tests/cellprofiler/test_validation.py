"""Validation catches CellProfiler's silent failures before a run (SPEC 7)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from cp_testdata import CHANNELS, write_loaddata

from starrynight.cellprofiler.cli import cp_group
from starrynight.cellprofiler.errors import CellProfilerRunError, PipelineValidationError
from starrynight.cellprofiler.runner import run_pipeline
from starrynight.cellprofiler.validation import validate_pipeline


def _edited(pipeline: Path, tmp_path: Path, old: str, new: str) -> Path:
    text = pipeline.read_text()
    assert old in text
    out = tmp_path / "edited.cppipe"
    out.write_text(text.replace(old, new, 1))
    return out


def test_valid_pipeline_passes(intensity_pipeline, constant_site):
    report = validate_pipeline(intensity_pipeline, constant_site[1])
    assert report.modules == ["LoadData", "MeasureImageIntensity", "ExportToSpreadsheet"]
    assert report.module_count == 3


def test_unknown_module_fails_and_cli_exits_nonzero(intensity_pipeline, constant_site, tmp_path):
    bad = _edited(intensity_pipeline, tmp_path, "MeasureImageIntensity:[", "NoSuchPluginModule:[")
    with pytest.raises(PipelineValidationError, match="NoSuchPluginModule"):
        validate_pipeline(bad, constant_site[1])
    out = tmp_path / "out"
    result = CliRunner().invoke(cp_group, ["run", "-p", str(bad), "--data-file", str(constant_site[1]),
                                           "-o", str(out), "--expect", "Image.csv"])
    assert result.exit_code != 0
    assert "NoSuchPluginModule" in result.output and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_unknown_module_fails_the_run_even_without_validation(intensity_pipeline, constant_site, tmp_path):
    """CellProfiler itself would drop the module and exit 0; the runner's driver refuses to run."""
    bad = _edited(intensity_pipeline, tmp_path, "MeasureImageIntensity:[", "NoSuchPluginModule:[")
    out = tmp_path / "out"
    with pytest.raises(CellProfilerRunError, match="NoSuchPluginModule"):
        run_pipeline(bad, constant_site[1], out, expect=["Image.csv"], validate=False)
    assert not out.exists()


def test_module_count_disagreeing_with_header_fails(intensity_pipeline, tmp_path):
    bad = _edited(intensity_pipeline, tmp_path, "ModuleCount:3", "ModuleCount:2")
    with pytest.raises(PipelineValidationError, match="ModuleCount:2"):
        validate_pipeline(bad)


def test_csv_missing_an_image_column_fails(intensity_pipeline, constant_site, tmp_path):
    tif, _ = constant_site
    partial = write_loaddata(tmp_path / "partial.csv", [tif], channels=CHANNELS[:2])
    with pytest.raises(PipelineValidationError, match="'Mito'"):
        validate_pipeline(intensity_pipeline, partial)


def test_header_only_csv_and_unknown_group_fail(intensity_pipeline, constant_site, tmp_path):
    header_only = tmp_path / "header_only.csv"
    with open(constant_site[1]) as src, open(header_only, "w", newline="") as dst:
        csv.writer(dst).writerow(next(csv.reader(src)))
    with pytest.raises(PipelineValidationError) as info:
        validate_pipeline(intensity_pipeline, header_only, {"Metadata_Plate": "P9"})
    text = str(info.value)
    assert "no rows" in text and "Metadata_Plate=P9" in text and "grouping keys" in text
