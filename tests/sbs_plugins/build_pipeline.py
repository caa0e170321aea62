"""Build the SBS plugin test pipeline with CellProfiler's own Pipeline API, and report how
CellProfiler's validity checks judge misconfigured plugin modules.

Runs in CellProfiler's environment (.venv-cp), not StarryNight's; one process for both
jobs because importing CellProfiler costs seconds:

    .venv-cp/bin/python build_pipeline.py OUT.cppipe DATA.csv PLUGINS_DIR CYCLES \
        LIBRARY.csv BAD.csv SHORT.csv

prints JSON: {"modules": [names as reloaded], "verdicts": {case: message or "valid"}}.
DATA.csv provides cycles 1-3; BAD has an invalid sequence, SHORT sequences shorter than
3 bases.

LoadData -> CompensateColors (whole image, per cycle) -> IdentifyPrimaryObjects (Foci)
-> CallBarcodes (Foci, mean) -> IdentifyPrimaryObjects (FociB) -> CompensateColors
(within FociB, pooled) -> CallBarcodes (FociB, max) -> ExportToSpreadsheet.
Every module must pass its own validity check, and the saved file must load back with
all modules and every setting value (settings are read by position; CellProfiler
silently drops modules it cannot load).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import cellprofiler_core.preferences as preferences

INPUT_PATTERN = "Cycle{cycle:02d}_{base}"
WHOLE_PATTERN = "CompCycle{cycle:02d}_{base}"
OBJECT_PATTERN = "ObjCompCycle{cycle:02d}_{base}"


def foci_finder(module_factory, image, objects):
    module = module_factory("IdentifyPrimaryObjects")
    module.x_name.value = image
    module.y_name.value = objects
    module.size_range.value = (2, 15)
    module.exclude_border_objects.value = False
    module.use_advanced.value = True
    module.threshold.threshold_scope.value = "Global"
    module.threshold.global_operation.value = "Manual"
    module.threshold.manual_threshold.value = 0.08
    return module


def build(data_csv: Path, library: Path, cycles: int):
    from cellprofiler_core.modules.loaddata import LoadData
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.utilities.core.modules import instantiate_module

    pipeline = Pipeline()
    load = LoadData()
    load.csv_directory.value = f"Elsewhere...|{data_csv.parent}"
    load.csv_file_name.value = data_csv.name
    modules = [load]

    whole = instantiate_module("CompensateColors")
    whole.n_cycles.value = cycles
    whole.input_pattern.value = INPUT_PATTERN
    whole.output_pattern.value = WHOLE_PATTERN
    whole.region.value = "Whole image"
    whole.matrix_mode.value = "One per cycle"
    whole.percentile.value = 97.0
    whole.wants_max_image.value = True
    whole.max_image_name.value = "CompensatedMax"
    modules += [whole, foci_finder(instantiate_module, "CompensatedMax", "Foci")]

    calls = instantiate_module("CallBarcodes")
    calls.objects_name.value = "Foci"
    calls.n_cycles.value = cycles
    calls.image_pattern.value = WHOLE_PATTERN
    calls.statistic.value = "Mean"
    calls.library_path.value = str(library)
    modules.append(calls)

    modules.append(foci_finder(instantiate_module, "CompensatedMax", "FociB"))
    within = instantiate_module("CompensateColors")
    within.n_cycles.value = cycles
    within.input_pattern.value = INPUT_PATTERN
    within.output_pattern.value = OBJECT_PATTERN
    within.region.value = "Pixels within objects"
    within.objects_name.value = "FociB"
    within.matrix_mode.value = "One pooled across cycles"
    within.percentile.value = 0.0
    within.wants_max_image.value = False
    modules.append(within)

    calls_b = instantiate_module("CallBarcodes")
    calls_b.objects_name.value = "FociB"
    calls_b.n_cycles.value = cycles
    calls_b.image_pattern.value = OBJECT_PATTERN
    calls_b.statistic.value = "Max"
    calls_b.library_path.value = str(library)
    modules.append(calls_b)

    export = instantiate_module("ExportToSpreadsheet")
    export.wants_prefix.value = False
    export.wants_overwrite_without_warning.value = True
    modules.append(export)

    for number, module in enumerate(modules, start=1):
        module.set_module_num(number)
        pipeline.add_module(module)
    for module in pipeline.modules():
        module.test_valid(pipeline)
    return pipeline


def verdict(pipeline, module) -> str:
    from cellprofiler_core.setting import ValidationError

    try:
        module.test_valid(pipeline)
    except ValidationError as error:
        return error.message
    return "valid"


def validation_verdicts(data_csv: Path, good: str, bad: str, short: str) -> dict:
    """Case -> what CellProfiler's validity check says about a (mis)configured module."""
    from cellprofiler_core.modules.loaddata import LoadData
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.utilities.core.modules import instantiate_module

    def pipeline_with(*modules):
        pipeline = Pipeline()
        load = LoadData()
        load.csv_directory.value = f"Elsewhere...|{Path(data_csv).parent}"
        load.csv_file_name.value = Path(data_csv).name
        for number, module in enumerate([load, *modules], start=1):
            module.set_module_num(number)
            pipeline.add_module(module)
        return pipeline

    def compensate(cycles, pattern="Cycle{cycle:02d}_{base}"):
        module = instantiate_module("CompensateColors")
        module.n_cycles.value = cycles
        module.input_pattern.value = pattern
        return module

    def call(library, cycles):
        module = instantiate_module("CallBarcodes")
        module.objects_name.value = "Foci"
        module.n_cycles.value = cycles
        module.image_pattern.value = "Cycle{cycle:02d}_{base}"
        module.library_path.value = library
        return module

    def foci(image):
        module = instantiate_module("IdentifyPrimaryObjects")
        module.x_name.value = image
        module.y_name.value = "Foci"
        return module

    results = {}
    ok = compensate(3)
    results["three_cycles_provided"] = verdict(pipeline_with(ok), ok)
    missing = compensate(4)
    results["cycle_four_missing"] = verdict(pipeline_with(missing), missing)
    no_cycle_field = compensate(3, "Cycle01_{base}")
    results["pattern_without_cycle"] = verdict(pipeline_with(no_cycle_field), no_cycle_field)
    downstream = foci("CompCycle03_T")
    results["output_subscribed_downstream"] = verdict(pipeline_with(ok, downstream), downstream)

    for case, library in [
        ("good_library", good),
        ("bad_library", bad),
        ("library_shorter_than_cycles", short),
    ]:
        module = call(library, 3)
        results[case] = verdict(pipeline_with(foci("Cycle01_A"), module), module)
    return results


def describe(pipeline) -> list:
    """Every module's name and setting values, to compare a pipeline with its reload."""
    return [
        (m.module_name, [setting.unicode_value for setting in m.settings()])
        for m in pipeline.modules()
    ]


def main() -> None:
    out, data_csv, plugins, cycles, library, bad, short = sys.argv[1:]
    preferences.set_headless()
    preferences.set_plugin_directory(plugins, globally=False)
    import cellprofiler_core.modules  # noqa: F401  (registers modules and plugins)
    from cellprofiler_core.pipeline import Pipeline

    pipeline = build(Path(data_csv), Path(library), int(cycles))
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".cppipe")
    with os.fdopen(fd, "w") as handle:
        pipeline.dump(handle, save_image_plane_details=False)
    reloaded = Pipeline()
    reloaded.load(tmp)
    names = [m.module_name for m in reloaded.modules()]
    if describe(reloaded) != describe(pipeline):
        raise SystemExit(f"pipeline did not round-trip: {names}")
    os.replace(tmp, out)
    verdicts = validation_verdicts(Path(data_csv), library, bad, short)
    print(json.dumps({"modules": names, "verdicts": verdicts}))


if __name__ == "__main__":
    main()
