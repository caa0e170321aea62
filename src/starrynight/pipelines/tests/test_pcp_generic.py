"""The pcp-generic composition: chunk sizes agree across steps; re-runs do only what changed."""

from __future__ import annotations

import json

import pytest

from starrynight.modules.cellprofiler_step import step_modules
from starrynight.pipelines.pcp_generic import couple_parameters, create_pcp_generic_pipeline


def test_each_step_chunks_freely_and_later_steps_read_the_units_it_planned(tiny_screen):
    from pathlib import Path

    data_config, experiment, _ = tiny_screen
    modules, _ = create_pcp_generic_pipeline(data_config, experiment, {
        "cp_illum_apply": {"sites_per_unit": 1}, "sbs_illum_apply": {"sites_per_unit": 0},
        "sbs_preprocess": {"sites_per_unit": 1}, "analysis": {"sites_per_unit": 0},
    })  # fmt: skip
    by_id = {m.module_id: m for m in modules}

    def read_units(module_id: str, step: str) -> list[str]:
        paths = [Path(p) for p in by_id[module_id].pipeline.inputs["upstream"]]
        return [p.parent.name for p in paths if p.parent.parent.parent.name == step]

    assert read_units("cp_segcheck_loaddata", "cp_illum_apply") == [u.id for u in by_id["cp_illum_apply_invoke"].uow]
    assert read_units("analysis_loaddata", "cp_illum_apply")[:2] == ["Plate1__A1__0000", "Plate1__A1__0001"]
    assert read_units("analysis_loaddata", "sbs_illum_apply") == ["Plate1__A1", "Plate1__A2"]
    assert read_units("sbs_preprocess_loaddata", "sbs_illum_apply") == ["Plate1__A1", "Plate1__A2"]
    foci = by_id["analysis_join"].foci_manifests()[("Plate1", "A1")]
    assert [p.parent.name for p in foci] == ["Plate1__A1__0000", "Plate1__A1__0001"]


def test_a_downstream_copy_of_an_upstream_chunk_size_does_not_exist():
    from starrynight.pipelines.pcp_generic import ParameterError

    with pytest.raises(ParameterError, match="parameters.analysis"):
        couple_parameters({"analysis": {"cp_sites_per_unit": 3}})
    with pytest.raises(ParameterError, match="parameters.cp_segcheck"):
        couple_parameters({"cp_segcheck": {"sites_per_unit": 3}})


def test_segcheck_segments_with_illum_apply_settings():
    from starrynight.modules.cp_segcheck.step import CPSegcheckParameters

    params = couple_parameters({"cp_illum_apply": {"nuclei_diameter_max": 33, "cell_threshold_method": "Otsu"},
                                "cp_segcheck": CPSegcheckParameters(every_nth_site=1)})  # fmt: skip
    segcheck = CPSegcheckParameters(**params["cp_segcheck"])
    assert segcheck.nuclei_diameter_max == 33 and segcheck.every_nth_site == 1
    with pytest.raises(ValueError, match="cp_segcheck.declump_method=Intensity must equal cp_illum_apply.declump_method"):
        couple_parameters({"cp_segcheck": {"declump_method": "Intensity"}})


def test_editing_illum_apply_segmentation_changes_the_segcheck_command(tiny_screen):
    data_config, experiment, _ = tiny_screen

    def segcheck_commands(parameters):
        modules, _ = create_pcp_generic_pipeline(data_config, experiment, parameters)
        return {m.module_id: list(m.pipeline.argv) for m in modules if m.module_id.startswith("cp_segcheck")}

    before = segcheck_commands({})
    after = segcheck_commands({"cp_illum_apply": {"nuclei_diameter_max": 33}})
    for module_id in ("cp_segcheck_loaddata", "cp_segcheck_cppipe"):
        argv = after[module_id]
        assert argv != before[module_id]
        assert argv[argv.index("--nuclei-diameter-max") + 1] == "33"


def test_whole_pipeline_compiles_and_plans(tiny_screen, tmp_path):
    import pipecraft as pc

    data_config, experiment, _ = tiny_screen
    modules, pipeline = create_pcp_generic_pipeline(data_config, experiment)
    ids = [m.module_id for m in modules]
    assert ids[:3] == ["cp_illum_calc_loaddata", "cp_illum_calc_cppipe", "cp_illum_calc_invoke"]
    assert ids[-1] == "qc_report" and len(ids) == len(set(ids))
    dry = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2)).dry_run(pipeline, working_dir=tmp_path / "run")
    assert dry.jobs["cp_illum_calc_invoke"] == len(experiment.plates)
    assert dry.jobs["sbs_illum_calc_invoke"] == len(experiment.plates) * len(experiment.sbs.cycles)
    assert dry.jobs["qc_report"] == 1
    # every step's .cppipe generation waits for nothing: it runs from the start, off the
    # critical path; each CellProfiler fan-out is ordered after its own .cppipe by the path
    rules = (tmp_path / "run" / "Snakefile").read_text().split("\nrule ")
    for module in modules:
        if module.module_id.endswith("_cppipe"):
            (block,) = [r for r in rules if r.startswith(f"{module.module_id}:")]
            assert "# after node" not in block, block
    invokes = [m for m in modules if m.module_id.endswith("_invoke")]
    # the report reads the segmentation check's units (among others): a change there refreshes it
    report_inputs = modules[-1].pipeline.inputs
    segcheck = next(m for m in invokes if m.step == "cp_segcheck")
    assert report_inputs["cp_segcheck"] == [str(segcheck.unit_output_dir(u)) for u in segcheck.uow]
    assert {"cp_illum_calc", "sbs_illum_calc", "sbs_illum_apply", "sbs_preprocess"} <= set(report_inputs)
    assert invokes and all(
        unit.inputs["cppipe"] == [str(m.spec.inputs["cppipe"])] for m in invokes for unit in m.pipeline.units)


@pytest.mark.slow
def test_rerun_does_nothing_and_an_edit_reruns_only_its_step_and_dependents(tiny_workspace):
    """CP arm (calc -> apply -> segcheck) beside SBS illum calc, through Snakemake: run, run
    again, edit a cp_illum_apply parameter, run again. The edit must re-run illum apply and
    the segmentation check that depends on it, and nothing upstream or beside them."""
    import pipecraft as pc
    from starrynight.pipelines.pcp_generic import CP_ARM, _step_graph, _trio

    data_config, experiment, _ = tiny_workspace
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    wd = data_config.scratch_path / "runs" / "cp"

    def graph(apply_params: dict | None = None) -> pc.Parallel:
        params = couple_parameters({"cp_illum_apply": apply_params or {}})

        def step(name: str) -> pc.Seq:
            trio = _trio(name)
            return _step_graph(step_modules(trio, data_config, experiment, trio[0].Parameters(**params[name])))

        return pc.Parallel([pc.Seq([step(name) for name in CP_ARM]), step("sbs_illum_calc")])

    def ran(handle) -> set[str]:
        jobs = json.loads(handle.summary_path.read_text())["jobs"]
        return {j["rule"] for j in jobs if j["status"] == "succeeded" and not j["rule"].endswith("__done")}

    first = ran(backend.run(graph(), working_dir=wd))
    assert {"cp_illum_calc_invoke", "cp_illum_apply_invoke", "cp_segcheck_invoke", "sbs_illum_calc_invoke"} <= first
    assert ran(backend.run(graph(), working_dir=wd)) == set()

    edited = ran(backend.run(graph({"nuclei_diameter_max": 28}), working_dir=wd))
    assert {"cp_illum_apply_invoke", "cp_segcheck_invoke"} <= edited
    assert not any(rule.startswith(("cp_illum_calc", "sbs_illum_calc")) for rule in edited), edited
