"""Validate a .cppipe, and optionally run it, INSIDE CellProfiler's Python (stdlib + CellProfiler only).

Validation guards against CellProfiler's silent failures: a module that does not load is
dropped (with every later one) while the run still exits 0; a setting CellProfiler reads by
position may land on the wrong value. Running in the same process as the validation pays
CellProfiler's start-up (imports, plugins, readers: ~2 s) once per unit of work, not twice.

usage: python _cp_driver.py --report R.json --pipeline P.cppipe --plugins DIR
           [--data-file D.csv] [--group Metadata_K=V ...]
           [--run-into OUT_DIR --done-file F --temp-dir T [--reader NAME ...] [--no-validate]]

Writes the JSON report {"problems": [...], "modules": [...], "module_count": N}; with
--run-into and no problems, runs the pipeline headless into OUT_DIR and writes CellProfiler's
exit status ("Complete" on success) to the done file. Exit code 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys

#: our plugin modules' former names, which clash with CellProfiler-plugins modules: a
#: pipeline written under them (by an older StarryNight) is read under the current names
LEGACY_MODULE_NAMES = {
    "CallBarcodes": "StarryNightCallBarcodes",
    "CompensateColors": "StarryNightCompensateColors",
}


def pipeline_text(path: str) -> str:
    """The .cppipe text, with our plugin modules' former names replaced by the current ones."""
    with open(path, encoding="utf-8") as fd:
        lines = fd.read().splitlines(keepends=True)
    for i, line in enumerate(lines):
        name, sep, rest = line.partition(":[")
        if sep and not line[0].isspace() and name in LEGACY_MODULE_NAMES:
            lines[i] = f"{LEGACY_MODULE_NAMES[name]}:[{rest}"
    return "".join(lines)


def _header_modules(path: str) -> tuple[int | None, list[str]]:
    """ModuleCount from the header and the module names as written in the text."""
    count = None
    names: list[str] = []
    in_header = True
    for i, line in enumerate(io.StringIO(pipeline_text(path))):
        if i == 0:
            continue
        if in_header:
            if not line.strip():
                in_header = False
            elif line.startswith("ModuleCount:"):
                count = int(line.split(":", 1)[1])
            continue
        if line.strip() and not line[0].isspace():
            names.append(line.split(":", 1)[0].strip())
    return count, names


def _csv_facts(data_file: str, groups: dict[str, str], problems: list[str]) -> None:
    with open(data_file, newline="", encoding="utf-8") as fd:
        reader = csv.reader(fd)
        header = next(reader, None)
        if header is None:
            problems.append(f"LoadData CSV {data_file} is empty")
            return
        rows = list(reader)
    if not rows:
        problems.append(f"LoadData CSV {data_file} has a header but no rows (no image sets)")
    for key, value in groups.items():
        if key not in header:
            problems.append(f"group key {key} is not a column of {data_file}")
        elif not any(row[header.index(key)] == value for row in rows):
            problems.append(f"no row of {data_file} has {key}={value}")


def _subscriber_problems(pipeline, module) -> list[str]:
    from cellprofiler_core.setting.subscriber import ListSubscriber, Subscriber

    found = []
    for setting in module.visible_settings():
        if not isinstance(setting, (Subscriber, ListSubscriber)):
            continue
        names = setting.value if isinstance(setting, ListSubscriber) else [setting.value]
        provided = pipeline.get_provider_dictionary(setting.group, module)
        for name in names:
            if name not in provided:
                kind = "image" if "image" in setting.group else setting.group.replace("group", "")
                found.append(
                    f"module #{module.module_num} {module.module_name}: setting "
                    f"'{setting.text}' uses {kind} '{name}', which neither the LoadData CSV nor "
                    f"an earlier module provides (available: {', '.join(sorted(provided)) or 'none'})"
                )
    return found


def _grouping_problems(modules, groups: dict[str, str], load_data_class) -> list[str]:
    """CellProfiler's `-g` needs exactly the pipeline's grouping keys (LoadData's group-by tags)."""
    loaders = [m for m in modules if isinstance(m, load_data_class)]
    keys: set[str] = set()
    if loaders and loaders[0].wants_image_groupings.value:
        keys = {f"Metadata_{tag}" for tag in loaders[0].metadata_fields.selections}
    if keys != set(groups):
        return [f"run groups {sorted(groups)} differ from the pipeline's grouping keys {sorted(keys)} "
                "(LoadData 'Group images by metadata?')"]
    return []


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="_cp_driver.py")
    parser.add_argument("--report", required=True)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--data-file")
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--run-into")
    parser.add_argument("--done-file")
    parser.add_argument("--temp-dir")
    parser.add_argument("--reader", action="append", default=[])
    parser.add_argument("--no-validate", action="store_true")
    return parser.parse_args(argv)


def _load_pipeline(path: str, load_errors: list[str]):
    from cellprofiler_core.pipeline import LoadException, Pipeline

    pipeline = Pipeline()

    def on_event(_pipeline, event) -> None:
        if isinstance(event, LoadException):
            event.cancel_run = False
            load_errors.append(f"module '{event.module_name}' could not be loaded: {event.error}")

    pipeline.add_listener(on_event)
    pipeline.load(io.StringIO(pipeline_text(path)))
    return pipeline


def validate(pipeline_path: str, data_file: str | None, groups: dict[str, str]) -> dict:
    """The report: problems (empty when the pipeline is fit to run), module names, ModuleCount."""
    from cellprofiler_core.modules.loaddata import LoadData
    from cellprofiler_core.setting import ValidationError
    from cellprofiler_core.setting.subscriber import ListSubscriber, Subscriber
    from cellprofiler_core.utilities.core.plugins import PLUGIN_STATUS

    problems: list[str] = []
    if data_file:
        _csv_facts(data_file, groups, problems)
    plugin_errors = {
        name: status["error"] for name, status in PLUGIN_STATUS.items() if not status.get("loaded")
    }
    header_count, text_names = _header_modules(pipeline_path)
    load_errors: list[str] = []
    pipeline = _load_pipeline(pipeline_path, load_errors)
    problems += load_errors
    if load_errors and plugin_errors:
        for name, err in plugin_errors.items():
            last = (err or "").strip().splitlines()[-1:] or ["unknown error"]
            problems.append(f"plugin {name} failed to load: {last[0]}")
    modules = pipeline.modules(False)
    names = [m.module_name for m in modules]
    if header_count is None:
        problems.append("the header has no ModuleCount line")
    elif header_count != len(text_names):
        problems.append(
            f"the header says ModuleCount:{header_count} but the file holds {len(text_names)} modules"
        )
    if names != text_names:
        problems.append(f"CellProfiler loaded modules {names}, the file declares {text_names}")

    if groups:
        problems += _grouping_problems(modules, groups, LoadData)
    for module in modules:
        if not module.enabled:
            continue
        if isinstance(module, LoadData) and not data_file:
            continue
        found = _subscriber_problems(pipeline, module) if data_file else []
        problems += found
        if found:
            continue
        try:
            module.test_valid(pipeline)
        except ValidationError as e:
            setting = e.get_setting()
            if not data_file and isinstance(setting, (Subscriber, ListSubscriber)):
                continue
            problems.append(
                f"module #{module.module_num} {module.module_name}: setting "
                f"'{getattr(setting, 'text', '?')}': {e.message}"
            )
    return {"problems": problems, "modules": names, "module_count": header_count}


def _keep_readers(builtin: list[str]) -> None:
    """Active readers: the named built-in ones plus every plugin reader (Bio-Formats needs Java)."""
    from cellprofiler_core.constants.reader import AVAILABLE_READERS

    for name, cls in list(AVAILABLE_READERS.items()):
        module = cls.__module__
        if module.startswith("cellprofiler_core.readers.") and module.rsplit(".", 1)[1] not in builtin:
            del AVAILABLE_READERS[name]


def run(pipeline_path: str, groups: dict[str, str], output_dir: str, temp_dir: str) -> str:
    """Run the pipeline headless as `cellprofiler -c -r` does; returns the exit status text."""
    import numpy
    from cellprofiler_core.constants.measurement import EXPERIMENT
    from cellprofiler_core.constants.pipeline import EXIT_STATUS
    from cellprofiler_core.preferences import set_default_output_directory, set_temporary_directory

    numpy.seterr(all="ignore")  # as CellProfiler's own command line does
    os.makedirs(temp_dir, exist_ok=True)
    set_temporary_directory(temp_dir, globally=False)
    set_default_output_directory(output_dir)
    load_errors: list[str] = []
    pipeline = _load_pipeline(pipeline_path, load_errors)
    if load_errors:
        return "Failure: " + "; ".join(load_errors)
    measurements = pipeline.run(grouping=groups or None, measurements_filename=None)
    status = "Failure"
    if measurements is not None:
        if measurements.has_feature(EXPERIMENT, EXIT_STATUS):
            status = measurements.get_experiment_measurement(EXIT_STATUS)
        measurements.close()
    return status


def main(argv: list[str]) -> int:
    args = _parse(argv)
    groups = dict(g.split("=", 1) for g in args.group)
    if args.run_into:
        from cellprofiler_core.utilities.logging import set_log_level

        set_log_level("INFO")

    from cellprofiler_core.preferences import set_data_file, set_headless, set_plugin_directory

    set_headless()
    set_plugin_directory(args.plugins, globally=False)
    from cellprofiler_core.reader import fill_readers

    fill_readers(check_config=True)
    if args.data_file:
        set_data_file(args.data_file)
    # ExportToDatabase logs a traceback when MySQLdb (left out on purpose) is absent; drop just
    # that record, so that a real traceback stands out in cellprofiler.log
    logging.getLogger("cellprofiler.modules.exporttodatabase").addFilter(
        lambda record: not record.getMessage().startswith("MySQL could not be loaded")
    )
    import cellprofiler_core.modules  # noqa: F401  (registers modules and plugins)

    if args.no_validate:
        report = {"problems": [], "modules": [], "module_count": None}
    else:
        report = validate(args.pipeline, args.data_file, groups)
    with open(args.report, "w", encoding="utf-8") as fd:
        json.dump(report, fd)
    if not args.run_into or report["problems"]:
        return 0
    if args.reader:
        _keep_readers(args.reader)
    status = run(args.pipeline, groups, args.run_into, args.temp_dir or args.run_into)
    with open(args.done_file, "w", encoding="utf-8") as fd:
        fd.write(status + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
