"""Write a .cppipe INSIDE CellProfiler's Python (run as a script; stdlib + CellProfiler only).

The real module classes are instantiated and their settings set by LABEL, then CellProfiler
itself dumps the file. CellProfiler reads settings back by POSITION, so the dumped text is
reloaded and every module's (label, value) list compared with what was built: a file that
would not load exactly as declared is never written.

usage: python _cp_build.py SPEC.json OUT.cppipe REPORT.json PLUGINS_DIR
SPEC: {"modules": [{"name", "settings": {label[#n]: text}, "groups": [{"attr", "add", "items"}]}]}
"""

from __future__ import annotations

import io
import json
import sys


class BuildError(Exception):
    pass


def _find(settings, key: str, where: str):
    """The setting whose label is `key`; `label#n` picks the n-th setting with that label."""
    label, _, nth = key.rpartition("#") if "#" in key else (key, "", "")
    if nth and not nth.isdigit():
        label, nth = key, ""
    matches = [s for s in settings if s.text == label]
    if not matches:
        labels = ", ".join(sorted({repr(s.text) for s in settings}))
        raise BuildError(f"{where}: no setting labelled {label!r}; labels are: {labels}")
    if nth:
        if not 1 <= int(nth) <= len(matches):
            raise BuildError(f"{where}: {key!r}: only {len(matches)} settings are labelled {label!r}")
        return matches[int(nth) - 1]
    if len(matches) > 1:
        raise BuildError(f"{where}: {len(matches)} settings are labelled {label!r}; use '{label}#1'..")
    return matches[0]


def _assign(setting, text: str, where: str) -> None:
    setting.value = text  # exactly how CellProfiler sets a value when it loads a file
    if setting.unicode_value != text:
        raise BuildError(f"{where}: setting {setting.text!r} took {setting.unicode_value!r}, not {text!r}")


def _build_module(spec: dict, number: int, instantiate_module):
    name = spec["name"]
    where = f"module #{number} {name}"
    try:
        module = instantiate_module(name)
    except Exception as e:
        raise BuildError(f"{where}: CellProfiler has no module {name!r} ({e})") from e
    module.set_module_num(number)
    grouped = set()
    for group in spec.get("groups", []):
        items = getattr(module, group["attr"], None)
        adder = getattr(module, group["add"], None)
        if not isinstance(items, list) or adder is None:
            raise BuildError(f"{where}: no group list {group['attr']!r} with method {group['add']!r}")
        del items[:]
        for i, values in enumerate(group["items"], 1):
            adder()
            members = [s for s in items[-1].settings if hasattr(s, "text")]
            for key, text in values.items():
                _assign(_find(members, key, f"{where} {group['attr']}[{i}]"), text, where)
        grouped.update(id(s) for g in items for s in g.settings)
    top = [s for s in module.settings() if id(s) not in grouped]
    for key, text in spec.get("settings", {}).items():
        _assign(_find(top, key, where), text, where)
    return module


def _check_values(pipeline, module) -> list[str]:
    """Each setting's own check, except names (checked against data at run time) and LoadData."""
    from cellprofiler_core.modules.loaddata import LoadData
    from cellprofiler_core.setting import ValidationError
    from cellprofiler_core.setting.subscriber import ListSubscriber, Subscriber

    if isinstance(module, LoadData):
        return []
    problems = []
    for setting in module.visible_settings():
        if isinstance(setting, (Subscriber, ListSubscriber)) or "Measurement" in type(setting).__name__:
            continue
        try:
            setting.test_valid(pipeline)
        except ValidationError as e:
            problems.append(
                f"module #{module.module_num} {module.module_name}: setting {setting.text!r} = "
                f"{setting.unicode_value!r}: {e.message}"
            )
    return problems


def _snapshot(pipeline):
    return [
        (m.module_name, m.variable_revision_number, [(s.text, s.unicode_value) for s in m.settings()])
        for m in pipeline.modules(False)
    ]


def main(argv: list[str]) -> int:
    spec_path, out_path, report_path, plugins_dir = argv
    with open(spec_path, encoding="utf-8") as fd:
        spec = json.load(fd)
    from cellprofiler_core.preferences import set_headless, set_plugin_directory

    set_headless()
    set_plugin_directory(plugins_dir, globally=False)
    import cellprofiler_core.modules  # noqa: F401  (registers modules and plugins)
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.utilities.core.modules import instantiate_module

    report: dict = {"errors": []}
    try:
        pipeline = Pipeline()
        for number, module_spec in enumerate(spec["modules"], 1):
            pipeline.add_module(_build_module(module_spec, number, instantiate_module))
        for module in pipeline.modules(False):
            report["errors"] += _check_values(pipeline, module)
        text = io.StringIO()
        pipeline.dump(text, save_image_plane_details=False)
        reloaded = Pipeline()
        reloaded.loadtxt(io.StringIO(text.getvalue()), raise_on_error=True)
        built, loaded = _snapshot(pipeline), _snapshot(reloaded)
        if built != loaded:
            diffs = [f"{b[0]}: built {b[2]} but loads as {r[2]}" for b, r in zip(built, loaded, strict=False) if b != r]
            report["errors"].append(f"the written file does not load as built: {diffs or 'module count differs'}")
        report["modules"] = [(name, rev) for name, rev, _ in loaded]
        if not report["errors"]:
            with open(out_path, "w", encoding="utf-8") as fd:
                fd.write(text.getvalue())
    except BuildError as e:
        report["errors"].append(str(e))
    with open(report_path, "w", encoding="utf-8") as fd:
        json.dump(report, fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
