"""Report how CellProfiler's validity checks judge (mis)configured SBS plugin modules.

Runs in CellProfiler's environment (.venv-cp), not StarryNight's:

    .venv-cp/bin/python check_validation.py PLUGINS_DIR DATA.csv GOOD.csv BAD.csv SHORT.csv

DATA.csv (LoadData) provides cycles 1-3; GOOD, BAD, SHORT are barcode libraries (valid,
with an invalid sequence on line 3, with sequences shorter than 3 bases). Prints JSON:
case -> the ValidationError message, or "valid".
"""

import json
import sys
from pathlib import Path

import cellprofiler_core.preferences as preferences


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
        module = instantiate_module("StarryNightCompensateColors")
        module.n_cycles.value = cycles
        module.input_pattern.value = pattern
        return module

    def call(library, cycles):
        module = instantiate_module("StarryNightCallBarcodes")
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
    even = compensate(3)
    even.background.value = "Local (white top-hat)"
    even.tophat_size.value = 8
    results["even_tophat_size"] = verdict(pipeline_with(even), even)
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


def main() -> None:
    plugins, data_csv, good, bad, short = sys.argv[1:]
    preferences.set_headless()
    preferences.set_plugin_directory(plugins, globally=False)
    import cellprofiler_core.modules  # noqa: F401  (registers modules and plugins)

    print(json.dumps(validation_verdicts(Path(data_csv), good, bad, short)))


if __name__ == "__main__":
    main()
