"""StarryNightCompensateColors and StarryNightCallBarcodes inside real CellProfiler, on synthetic SBS images.

A site of well-separated spots, each carrying a library barcode over 3 cycles, mixed
through a known crosstalk matrix with background and noise, is written as 16-bit TIFFs
(after an empty site). The pipeline is declared with `starrynight.cellprofiler.cppipe`
and run by `starrynight.cellprofiler.runner` (validation, headless CellProfiler, output
checks): LoadData -> StarryNightCompensateColors -> IdentifyPrimaryObjects -> StarryNightCallBarcodes, twice
(median background, whole-image per-cycle matrices, mean intensities; local top-hat
background, pooled within-object matrices, max intensities) -> ExportToSpreadsheet. The exported per-focus calls must equal
the truth.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler import cppipe as cp
from starrynight.cellprofiler.runner import LOG_NAME, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
CP_PYTHON = ROOT / ".venv-cp" / "bin" / "python"
CELLPROFILER = ROOT / ".venv-cp" / "bin" / "cellprofiler"
CHECKER = Path(__file__).with_name("check_validation.py")
INPUT_PATTERN = "Cycle{cycle:02d}_{base}"

pytestmark = [
    pytest.mark.skipif(
        not CELLPROFILER.exists(),
        reason="CellProfiler is not installed (scripts/install_cellprofiler.sh)",
    ),
    # One worker runs them all, so the module-scoped CellProfiler run happens once.
    pytest.mark.xdist_group("sbs_plugins"),
    # Four CellProfiler start-ups (build, validate, run, checks): ~19 s of CPU.
    pytest.mark.slow,
]

BASES = "ACGT"
CYCLES = 3
SIZE = 128
# Every column of the prefixes is a permutation of ACGT: any two differ at all 3 cycles,
# and every base occurs in every cycle.
LIBRARY = [
    ("ACGTTAGCCATGGACTTACG", "KRAS"),
    ("CGTAAGCTTGCAGTCAGTCA", "TP53"),
    ("GTACCTAGGATCCAGTGACT", "MYC"),
    ("TACGGATCATCGTTCAGCAT", "EGFR"),
    ("ACTGGATCCATGGACTTTTT", "PTEN"),  # shares cycle 1-2 with KRAS, differs at cycle 3
]
CROSSTALK = np.array(
    [
        [1.00, 0.40, 0.02, 0.00],
        [0.35, 1.00, 0.00, 0.05],
        [0.00, 0.04, 1.00, 0.45],
        [0.03, 0.00, 0.30, 1.00],
    ]
)
ERROR_SPOT = 5  # this spot's cycle-2 base is misread (a sequencing error)


def synthetic_site(rng: np.random.Generator, spots: bool = True) -> tuple[np.ndarray, list[dict]]:
    """``(cycles, 4, SIZE, SIZE)`` uint16 base images and the truth for each spot.

    Without spots the site is background and noise only (an empty field of view).
    """
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    pure = np.zeros((CYCLES, 4, SIZE, SIZE))
    truth = []
    spot = 0
    for row in range(4 if spots else 0):
        for col in range(4):
            y = 20 + 28 * row + rng.uniform(-3, 3)
            x = 20 + 28 * col + rng.uniform(-3, 3)
            library_row = spot % len(LIBRARY)
            read = [BASES.index(b) for b in LIBRARY[library_row][0][:CYCLES]]
            if spot == ERROR_SPOT:
                read[1] = (read[1] + 2) % 4
            blob = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.6**2))
            for cycle, base in enumerate(read):
                pure[cycle, base] += rng.uniform(0.3, 0.6) * blob
            truth.append(
                {"y": y, "x": x, "row": library_row, "read": "".join(BASES[b] for b in read)}
            )
            spot += 1
    mixed = np.einsum("ij,cjyx->ciyx", CROSSTALK, pure)
    observed = mixed + 0.02 + rng.normal(0, 0.004, size=mixed.shape)
    return (np.clip(observed, 0, 1) * 65535).astype(np.uint16), truth


def write_csv(path: Path, rows: list) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_inputs(tmp: Path, sites: list[np.ndarray]) -> tuple[Path, Path]:
    """TIFF per site and base image, the LoadData CSV (one row per site), the library."""
    image_dir = tmp / "images"
    image_dir.mkdir()
    header = ["Metadata_Site"]
    rows = [[str(site)] for site in range(1, len(sites) + 1)]
    for cycle in range(CYCLES):
        for b, base in enumerate(BASES):
            name = f"Cycle{cycle + 1:02d}_{base}"
            header += [f"FileName_{name}", f"PathName_{name}"]
            for site, (images, row) in enumerate(zip(sites, rows, strict=True), start=1):
                tifffile.imwrite(image_dir / f"Site{site}_{name}.tiff", images[cycle, b])
                row += [f"Site{site}_{name}.tiff", str(image_dir)]
    data_csv = write_csv(tmp / "load_data.csv", [header, *rows])
    library = write_csv(tmp / "Barcodes.csv", [("sgRNA", "gene_symbol"), *LIBRARY])
    return data_csv, library


def foci_finder(objects: str) -> cp.Module:
    """Foci on the compensated maximum: small objects above a fixed threshold."""
    return cp.identify_primary_objects(
        "CompensatedMax",
        objects,
        (2, 15),
        threshold_method="Manual",
        extra={
            "Manual threshold": 0.08,
            "Discard objects touching the border of the image?": False,
        },
    )


def sbs_pipeline(library: Path) -> cp.Pipeline:
    """Both plugin configurations in one pipeline, declared by setting labels."""
    whole = cp.Module(
        name="StarryNightCompensateColors",
        settings={
            "Number of cycles": CYCLES,
            "Input image name pattern": INPUT_PATTERN,
            "Output image name pattern": "CompCycle{cycle:02d}_{base}",
            "Estimate the crosstalk from": "Whole image",
            "Crosstalk matrix": "One per cycle",
            "Use only pixels brighter than this percentile": 97.0,
            "Save the maximum over all compensated images?": True,
            "Name the maximum image": "CompensatedMax",
        },
    )
    within = cp.Module(
        name="StarryNightCompensateColors",
        settings={
            "Number of cycles": CYCLES,
            "Input image name pattern": INPUT_PATTERN,
            "Output image name pattern": "ObjCompCycle{cycle:02d}_{base}",
            "Background to subtract": "Local (white top-hat)",
            "Top-hat size (pixels, odd)": 7,
            "Estimate the crosstalk from": "Pixels within objects",
            "Objects to estimate within": "FociB",
            "Crosstalk matrix": "One pooled across cycles",
            "Use only pixels brighter than this percentile": 50.0,
            "Save the maximum over all compensated images?": False,
        },
    )

    def calls(objects: str, pattern: str, statistic: str) -> cp.Module:
        return cp.Module(
            name="StarryNightCallBarcodes",
            settings={
                "Select the foci": objects,
                "Number of cycles": CYCLES,
                "Base image name pattern": pattern,
                "Intensity of a focus in each base": statistic,
                "Barcode library CSV": str(library),
            },
        )

    return cp.Pipeline(
        modules=[
            cp.load_data(),
            whole,
            foci_finder("Foci"),
            calls("Foci", "CompCycle{cycle:02d}_{base}", "Mean"),
            foci_finder("FociB"),
            within,
            calls("FociB", "ObjCompCycle{cycle:02d}_{base}", "Max"),
            cp.export_to_spreadsheet(),
        ]
    )


def validation_verdicts(tmp: Path, data_csv: Path, library: Path) -> tuple[dict, Path, Path]:
    """What CellProfiler's validity checks say about misconfigured plugin modules."""
    bad = write_csv(tmp / "bad.csv", [("sgRNA", "gene_symbol"), ("ACGTAC", "A"), ("ACXTAC", "B")])
    short = write_csv(tmp / "short.csv", [("sgRNA", "gene_symbol"), ("AC", "A")])
    argv = [CP_PYTHON, CHECKER, PLUGINS_DIR, data_csv, library, bad, short]
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), bad, short


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def assign_to_truth(rows: list[dict], truth: list[dict]) -> list[dict]:
    """The truth spot nearest each exported focus (within 3 px); each spot used once."""
    assigned = []
    for row in rows:
        x, y = float(row["Location_Center_X"]), float(row["Location_Center_Y"])
        distances = [np.hypot(t["x"] - x, t["y"] - y) for t in truth]
        nearest = int(np.argmin(distances))
        assert distances[nearest] < 3, f"focus at ({x:.1f}, {y:.1f}) matches no spot"
        assigned.append(truth[nearest])
    assert sorted(id(t) for t in assigned) == sorted(id(t) for t in truth)
    return assigned


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Site 1 is empty (no spots), site 2 holds the spots."""
    tmp = tmp_path_factory.mktemp("sbs_plugins")
    rng = np.random.default_rng(11)
    empty, _ = synthetic_site(rng, spots=False)
    images, truth = synthetic_site(rng)
    data_csv, library = write_inputs(tmp, [empty, images])
    return {"tmp": tmp, "data": data_csv, "library": library, "truth": truth}


@pytest.fixture(scope="module")
def exported(inputs) -> tuple[Path, list[dict]]:
    tmp = inputs["tmp"]
    pipeline = sbs_pipeline(inputs["library"]).write(tmp / "sbs.cppipe")
    expect = ["Image.csv", "Foci.csv", "FociB.csv"]
    result = run_pipeline(pipeline, inputs["data"], tmp / "out", expect=expect)
    return result.output_dir, inputs["truth"]


@pytest.mark.parametrize("objects", ["Foci", "FociB"])
def test_exported_calls_equal_the_truth(exported, objects):
    out, truth = exported
    rows = read_rows(out / f"{objects}.csv")
    assert {row["ImageNumber"] for row in rows} == {"2"}
    assert len(rows) == len(truth)
    for row, spot in zip(rows, assign_to_truth(rows, truth), strict=True):
        barcode, gene = LIBRARY[spot["row"]]
        assert row["Barcode_Called"] == spot["read"]
        assert row["Barcode_Gene"] == gene
        assert row["Barcode_MatchedBarcode"] == barcode[:CYCLES]
        assert int(row["Barcode_NumBestMatches"]) == 1
        expected_score = 1.0 if spot["read"] == barcode[:CYCLES] else 2 / 3
        assert float(row["Barcode_MatchScore"]) == pytest.approx(expected_score)
        assert int(row["Barcode_PerfectMatch"]) == int(expected_score == 1.0)
        cycle_quality = [float(row[f"Barcode_Quality_Cycle{c:02d}"]) for c in range(1, CYCLES + 1)]
        assert float(row["Barcode_Quality"]) == pytest.approx(min(cycle_quality))
        assert min(cycle_quality) > 0.8


def test_crosstalk_matrices_are_recorded_and_close_to_the_truth(exported):
    out, _ = exported
    image_row = read_rows(out / "Image.csv")[1]
    for tag in ("Cycle01", "Cycle02", "Cycle03", "Pooled"):
        estimated = np.array(
            [[float(image_row[f"Crosstalk_{tag}_{b}In{c}"]) for b in BASES] for c in BASES]
        )
        np.testing.assert_allclose(estimated, CROSSTALK, atol=0.03)
        assert all(int(image_row[f"Crosstalk_{tag}_Pixels{b}"]) >= 10 for b in BASES)


def test_empty_site_has_no_foci_and_an_identity_matrix_within_objects(exported):
    out, _ = exported
    image_row = read_rows(out / "Image.csv")[0]
    assert float(image_row["Count_Foci"]) == float(image_row["Count_FociB"]) == 0
    assert all(float(image_row[f"Crosstalk_Pooled_Pixels{b}"]) == 0 for b in BASES)
    estimated = [[float(image_row[f"Crosstalk_Pooled_{b}In{c}"]) for b in BASES] for c in BASES]
    np.testing.assert_array_equal(estimated, np.eye(4))


def test_misconfigured_modules_fail_validation_with_clear_messages(inputs):
    verdicts, bad, short = validation_verdicts(inputs["tmp"], inputs["data"], inputs["library"])
    bad, short = str(bad), str(short)
    assert verdicts["three_cycles_provided"] == "valid"
    assert verdicts["output_subscribed_downstream"] == "valid"
    assert verdicts["good_library"] == "valid"
    assert "Cycle04_A" in verdicts["cycle_four_missing"]
    assert "Cycle03_T" not in verdicts["cycle_four_missing"]
    assert "{cycle}" in verdicts["pattern_without_cycle"]
    assert "odd" in verdicts["even_tophat_size"]
    assert bad in verdicts["bad_library"] and "line 3" in verdicts["bad_library"]
    assert short in verdicts["library_shorter_than_cycles"]
    assert "shorter" in verdicts["library_shorter_than_cycles"]


def test_called_bases_need_compensation_on_this_data():
    """Guard against a too-easy fixture: raw spots have much lower call quality."""
    images, truth = synthetic_site(np.random.default_rng(11))
    raw = images.astype(float)
    spot = truth[0]
    y, x = round(spot["y"]), round(spot["x"])
    vectors = raw[:, :, y, x]
    quality = vectors.max(axis=1) / vectors.sum(axis=1)
    assert quality.max() < 0.75


def test_cellprofiler_log_has_no_mysql_traceback(exported):
    out, _ = exported
    log = (out / LOG_NAME).read_text()
    assert "MySQL" not in log and "Traceback" not in log  # before: every log opened with one


def test_plugins_do_not_clash_with_cellprofiler_plugins_and_old_pipelines_still_run(inputs):
    import re

    names = {m for f in PLUGINS_DIR.glob("*.py")
             for m in re.findall(r'module_name = "(\w+)"', f.read_text())}  # fmt: skip
    assert {"StarryNightCallBarcodes", "StarryNightCompensateColors"} <= names
    assert not names & {"CallBarcodes", "CompensateColors"}  # the CellProfiler-plugins names
    assert not {f.stem for f in PLUGINS_DIR.glob("*.py")} & {"callbarcodes", "compensatecolors"}
    tmp = inputs["tmp"]
    current = sbs_pipeline(inputs["library"]).write(tmp / "current.cppipe").read_text()
    legacy = current.replace("StarryNightCallBarcodes:[", "CallBarcodes:[").replace(
        "StarryNightCompensateColors:[", "CompensateColors:[")
    assert "\nCallBarcodes:[" in legacy
    (tmp / "legacy.cppipe").write_text(legacy)
    result = run_pipeline(tmp / "legacy.cppipe", inputs["data"], tmp / "legacy_out", expect=["Foci.csv"])
    assert read_rows(result.output_dir / "Foci.csv") == read_rows(tmp / "out" / "Foci.csv")
