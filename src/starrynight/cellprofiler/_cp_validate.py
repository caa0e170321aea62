"""Validate a .cppipe INSIDE CellProfiler's Python (run as a script; stdlib + CellProfiler only).

Guards against CellProfiler's silent failures: a module that does not load is dropped
(with every later one) while the run still exits 0; a setting CellProfiler reads by
position may land on the wrong value. Writes a JSON report: {"problems": [...], ...}.

usage: python _cp_validate.py REPORT.json PIPELINE.cppipe PLUGINS_DIR [DATA_FILE.csv] [KEY=VALUE ...]
"""

from __future__ import annotations

import csv
import json
import sys


def _header_modules(path: str) -> tuple[int | None, list[str]]:
    """ModuleCount from the header and the module names as written in the text."""
    count = None
    names: list[str] = []
    in_header = True
    with open(path, encoding="utf-8") as fd:
        for i, line in enumerate(fd):
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


def main(argv: list[str]) -> int:
    report_path, pipeline_path, plugins_dir = argv[:3]
    rest = argv[3:]
    data_file = rest[0] if rest and "=" not in rest[0] else None
    groups = dict(a.split("=", 1) for a in rest[1 if data_file else 0 :])
    problems: list[str] = []

    from cellprofiler_core.preferences import set_data_file, set_headless, set_plugin_directory

    set_headless()
    set_plugin_directory(plugins_dir, globally=False)
    from cellprofiler_core.reader import fill_readers

    fill_readers(check_config=True)
    if data_file:
        set_data_file(data_file)
        _csv_facts(data_file, groups, problems)
    import cellprofiler_core.modules  # noqa: F401  (registers modules and plugins)
    from cellprofiler_core.modules.loaddata import LoadData
    from cellprofiler_core.pipeline import LoadException, Pipeline
    from cellprofiler_core.setting import ValidationError
    from cellprofiler_core.setting.subscriber import ListSubscriber, Subscriber
    from cellprofiler_core.utilities.core.plugins import PLUGIN_STATUS

    plugin_errors = {
        name: status["error"] for name, status in PLUGIN_STATUS.items() if not status.get("loaded")
    }
    header_count, text_names = _header_modules(pipeline_path)

    pipeline = Pipeline()
    load_errors: list[str] = []

    def on_event(_pipeline, event) -> None:
        if isinstance(event, LoadException):
            event.cancel_run = False
            load_errors.append(f"module '{event.module_name}' could not be loaded: {event.error}")

    pipeline.add_listener(on_event)
    pipeline.load(pipeline_path)
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
    report = {"problems": problems, "modules": names, "module_count": header_count}
    with open(report_path, "w", encoding="utf-8") as fd:
        json.dump(report, fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
