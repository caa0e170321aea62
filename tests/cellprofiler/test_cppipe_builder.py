"""The builder writes only pipelines that CellProfiler loads exactly as declared."""

from __future__ import annotations

import pytest

from starrynight.cellprofiler import cppipe as cp
from starrynight.cellprofiler.errors import CppipeBuildError


def test_revision_trap_value_is_refused(tmp_path):
    with pytest.raises(CppipeBuildError, match="All: Across cycles"):
        cp.correct_illumination_calculate("DNA", "IllumDNA", each_or_all="All: Across cycles")
    raw = cp.correct_illumination_calculate("DNA", "IllumDNA").set(
        "Calculate function for each image individually, or based on all images?", "All: Across cycles")
    with pytest.raises(CppipeBuildError, match="All: Across cycles"):
        cp.Pipeline(modules=[cp.load_data(), raw]).write(tmp_path / "trap.cppipe")
    assert not (tmp_path / "trap.cppipe").exists()


def test_unknown_label_ambiguous_label_and_unknown_module_are_named(tmp_path):
    bad = [
        cp.Module(name="Resize", settings={"No such label": "1"}),
        cp.identify_primary_objects("DNA", "Nuclei").set("Thresholding method", "Otsu"),
        cp.Module(name="NoSuchModule"),
    ]
    expected = ["No such label", "use 'Thresholding method#1'", "NoSuchModule"]
    for module, message in zip(bad, expected, strict=True):
        with pytest.raises(CppipeBuildError, match=message):
            cp.Pipeline(modules=[cp.load_data(), module]).write(tmp_path / "bad.cppipe")


def test_common_modules_round_trip(tmp_path):
    path = cp.Pipeline(modules=[
        cp.load_data(group_by=["Plate"]),
        cp.correct_illumination_apply([("DNA", "CorrDNA", "IllumDNA"), ("Cell", "CorrCell", "IllumCell")]),
        cp.identify_primary_objects("CorrDNA", "Nuclei", (8, 30)),
        cp.identify_secondary_objects("Nuclei", "Cells", "CorrCell"),
        cp.identify_tertiary_objects("Cells", "Nuclei", "Cytoplasm"),
        cp.measure_object_intensity(["CorrDNA", "CorrCell"], ["Nuclei", "Cells"]),
        cp.measure_object_size_shape(["Nuclei", "Cells"]),
        cp.overlay_outlines("CorrDNA", "Overlay", [("Nuclei", "Red"), ("Cells", "Green")]),
        cp.rescale_intensity("CorrDNA", "RescDNA"),
        cp.align(("CorrDNA", "AlDNA"), ("CorrCell", "AlCell")),
        cp.save_images("Overlay", name_from="DNA", suffix="_overlay", file_format="png"),
        cp.export_to_spreadsheet(),
    ]).write(tmp_path / "seg.cppipe")
    text = path.read_text()
    assert "ModuleCount:12" in text
    assert text.count("Select the illumination function:Illum") == 2
    assert "Select images to measure:CorrDNA, CorrCell" in text
    assert "Select objects to display:Cells" in text
