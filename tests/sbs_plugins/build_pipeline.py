"""Build and validate the SBS plugin test pipeline with CellProfiler's own Pipeline API.

Runs in CellProfiler's environment (.venv-cp), not StarryNight's:

    .venv-cp/bin/python build_pipeline.py OUT.cppipe DATA.csv PLUGINS_DIR LIBRARY.csv CYCLES

LoadData -> CompensateColors (whole image, per cycle) -> IdentifyPrimaryObjects (Foci)
-> CallBarcodes (Foci, mean) -> IdentifyPrimaryObjects (FociB) -> CompensateColors
(within FociB, pooled) -> CallBarcodes (FociB, max) -> ExportToSpreadsheet.
Every module must pass its own validity check, and the saved file must load back with
all modules, because CellProfiler silently drops modules it cannot load.
"""

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


def main() -> None:
    out, data_csv, plugins, library, cycles = sys.argv[1:]
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
    if names != [m.module_name for m in pipeline.modules()]:
        raise SystemExit(f"pipeline did not round-trip: {names}")
    os.replace(tmp, out)
    print(" ".join(names))


if __name__ == "__main__":
    main()
