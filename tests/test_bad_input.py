"""Bad input to a whole-screen run gives one clear line on the console, before any work.

Each case runs `starrynight run pcp-generic --config ... --compile-only` (real Snakemake for
the index) or the public Python API on the tiny synthetic screen.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from starrynight import naming
from starrynight.cli import main
from starrynight.config import DataConfig

ROOT = Path(__file__).resolve().parent.parent


def _fails(config: Path) -> str:
    result = CliRunner().invoke(
        main, ["run", "pcp-generic", "--config", str(config), "--compile-only"]
    )
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_backend_typos_name_the_section_the_allowed_keys_and_a_close_match(tiny_screen_config):
    line = _fails(tiny_screen_config(backend={"core": 2}))
    assert "screen.yaml: backend.core: unknown setting (allowed: use_opentelemetry," in line
    assert "did you mean 'cores'?" in line
    line = _fails(tiny_screen_config(backend={"cores": "two"}))
    assert "backend.cores: Input should be a valid integer" in line and "(got 'two')" in line


def test_step_parameter_typos_name_the_step(tiny_screen_config):
    line = _fails(tiny_screen_config(parameters={"sbs_preprocess": {"tophat_sze": 9}}))
    assert "parameters.sbs_preprocess.tophat_sze: unknown setting" in line
    assert "did you mean 'tophat_size'?" in line
    line = _fails(tiny_screen_config(parameters={"sbs_preprocess": {"tophat_size": "big"}}))
    assert "parameters.sbs_preprocess.tophat_size: Input should be a valid integer" in line
    line = _fails(tiny_screen_config(parameters={"sbs_preprocess": {"tophat_size": 1000}}))
    assert "parameters.sbs_preprocess.tophat_size: Input should be less than or equal to 50" in line
    bad_choice = {"sbs_preprocess": {"intensity_statistic": "Median"}}
    line = _fails(tiny_screen_config(parameters=bad_choice))
    assert "parameters.sbs_preprocess.intensity_statistic: Input should be 'Mean' or 'Max'" in line
    line = _fails(tiny_screen_config(parameters={"sbs_preproces": {}}))
    assert (
        "parameters.sbs_preproces: no such step" in line and "did you mean 'sbs_preprocess'" in line
    )


def test_an_unknown_experiment_kind_names_the_registered_ones(tiny_screen_config):
    line = _fails(tiny_screen_config(experiment_kind="pcp-genric"))
    assert "screen.yaml: experiment_kind: unknown experiment 'pcp-genric'" in line
    assert "available: pcp-generic" in line


def test_a_bad_chunk_size_is_blamed_on_the_setting_the_user_gave(tiny_screen_config):
    line = _fails(tiny_screen_config(parameters={"cp_illum_apply": {"sites_per_unit": -1}}))
    assert (
        "parameters.cp_illum_apply.sites_per_unit: Input should be greater than or equal to 0"
        in line
    )
    assert "cp_sites_per_unit" not in line  # before: blamed on the analysis copy


def test_bad_locations_are_one_line_each(tmp_path, tiny_screen_config):
    (tmp_path / "a_file").write_text("x")
    cases = {
        "workspace_path": (str(tmp_path / "a_file"), "workspace_path", "is a file, not a folder"),
        "images_path": (str(tmp_path / "nowhere"), "images_path", "does not exist"),
        "scratch_path": (str(tmp_path / "a_file" / "scratch"), "scratch_path", "a_file is a file"),
    }
    for key, (value, named, says) in cases.items():
        line = _fails(tiny_screen_config(**{key: value}))
        assert named in line and says in line, line


def test_a_workspace_that_cannot_be_written_is_named(tiny_screen_config):
    line = _fails(tiny_screen_config(workspace_path="/proc/starrynight-workspace"))
    assert "workspace_path /proc/starrynight-workspace is not writable" in line


def test_the_images_tree_stays_read_only(tiny_screen, tmp_path, tiny_screen_config):
    _, _, info = tiny_screen
    inside = str(info.images_path / "scratch")
    line = _fails(tiny_screen_config(scratch_path=inside))
    assert "scratch_path" in line and "is inside the images folder" in line
    line = _fails(tiny_screen_config(workspace_path=str(info.images_path)))
    assert "workspace_path" in line and "is the images folder" in line
    assert "screen.yaml: workspace_path " in line  # no stray 'value:' before the sentence
    assert not (info.images_path / "scratch").exists() and not (info.images_path / "index").exists()
    with pytest.raises(ValueError, match="read-only to StarryNight"):
        DataConfig(workspace_path=tmp_path, images_path=info.images_path, scratch_path=inside)


def test_unparsed_images_are_shown_and_stop_the_run_unless_allowed(
    tiny_screen, tmp_path, tiny_screen_config
):
    _, _, info = tiny_screen
    images = tmp_path / "images"
    shutil.copytree(info.images_path, images)
    first = sorted(images.rglob("*.tif*"))[0]
    shutil.copy(first, first.parent / "Scan_0001.ome.tiff")  # a name the preset cannot read
    config = tiny_screen_config(images_path=str(images))
    runner = CliRunner()
    result = runner.invoke(main, ["run", "pcp-generic", "--config", str(config), "--compile-only"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "files not indexed" in result.output and "not an image" in result.output  # summary
    assert (
        "1 image file(s) were not indexed" in result.output
        and "Scan_0001.ome.tiff" in result.output
    )
    assert "allow_unparsed_images: true" in result.output
    allowed = tiny_screen_config(images_path=str(images), allow_unparsed_images=True)
    result = runner.invoke(main, ["run", "pcp-generic", "--config", str(allowed), "--compile-only"])
    assert result.exit_code == 0, result.output
    assert "compiled:" in result.output


def test_step_parameters_of_the_wrong_kind_are_named(tiny_screen):
    from starrynight.pipelines.pcp_generic import ParameterError, create_pcp_generic_pipeline

    data_config, experiment, _ = tiny_screen
    with pytest.raises(
        ParameterError, match=r"parameters.cp_illum_calc: expected a mapping of settings"
    ):
        create_pcp_generic_pipeline(data_config, experiment, {"cp_illum_calc": 5})


def test_every_way_into_the_images_tree_is_refused(tmp_path):
    images = tmp_path / "images"
    (images / "plate").mkdir(parents=True)
    (tmp_path / "link").symlink_to(images / "plate")
    for workspace, scratch in (
        (images / "ws", tmp_path / "scratch"),  # workspace inside
        (tmp_path / "link" / "ws", tmp_path / "scratch"),  # through a symlink
        (tmp_path / "ws", images),  # scratch equal
    ):
        with pytest.raises(ValueError, match="read-only to StarryNight"):
            DataConfig(workspace_path=workspace, images_path=images, scratch_path=scratch)
    with pytest.raises(ValueError, match="workspace_path memory://b/images/ws is inside"):
        DataConfig(workspace_path="memory://b/images/ws", images_path="memory://b/images",
                   scratch_path=tmp_path)  # fmt: skip
    DataConfig(
        workspace_path="memory://b/images-ws",
        images_path="memory://b/images",
        scratch_path=tmp_path,
    )  # fmt: skip  (a sibling whose name starts alike is fine)


def test_a_workspace_that_is_the_scratch_folder_is_refused(tmp_path, tiny_screen_config):
    line = _fails(tiny_screen_config(workspace_path=str(tmp_path / "scratch")))
    assert "workspace_path" in line and "is the scratch folder" in line and "may be deleted" in line


def test_resource_overrides_name_the_node_and_the_setting(tiny_screen_config):
    line = _fails(tiny_screen_config(resources={"cp_illum_apply_invoke": {"mem": 4000}}))
    assert "resources.cp_illum_apply_invoke.mem: unknown setting" in line
    assert "did you mean 'mem_mb'?" in line
    line = _fails(tiny_screen_config(resources={"cp_illum_apply": {"mem_mb": 4000}}))
    assert "resources: no node named 'cp_illum_apply' in this pipeline" in line
    assert "cp_illum_apply_invoke" in line


def test_resource_overrides_reach_the_compiled_rules(tiny_screen_config, tmp_path):
    config = tiny_screen_config(
        resources={"cp_illum_apply_invoke": {"mem_mb": 4321, "runtime_min": 7}}
    )
    result = CliRunner().invoke(
        main, ["run", "pcp-generic", "--config", str(config), "--compile-only"]
    )
    assert result.exit_code == 0, result.output
    snakefile = (naming.run_folder(tmp_path / "scratch", "pcp-generic") / "Snakefile").read_text()
    rule = snakefile.split("rule cp_illum_apply_invoke:")[1].split("\nrule ")[0]
    assert "mem_mb=_mem(4321)" in rule and "runtime=7" in rule
    other = snakefile.split("rule cp_illum_calc_invoke:")[1].split("\nrule ")[0]
    assert "mem_mb=_mem(2000)" in other and "runtime=120" in other  # the step's own


def test_a_truncated_image_stops_the_run_at_the_index(tiny_screen, tmp_path, tiny_screen_config):
    _, _, info = tiny_screen
    images = tmp_path / "images"
    shutil.copytree(info.images_path, images)
    last = sorted(images.rglob("*_CP_*/*.tiff"))[-1]
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # an interrupted copy
    line = _fails(tiny_screen_config(images_path=str(images)))
    # before: indexed as usable (the run's index step read no header), found by CellProfiler
    assert "1 image file(s) were not indexed" in line and last.name in line
    assert "(unusable: " in line and "truncated" in line, line


def test_a_library_without_the_control_gene_is_refused_before_any_work(
    tiny_screen, tmp_path, tiny_screen_config
):
    _, _, info = tiny_screen
    library = tmp_path / "barcodes.csv"
    library.write_text(info.barcode_csv.read_text().replace("nontargeting", "non-targeting"))
    config = tiny_screen_config()
    text = config.read_text().replace(str(info.barcode_csv), str(library))
    config.write_text(text)
    line = _fails(config)
    # before: accepted; the profiles step failed after every image was processed
    assert (
        f"parameters.profiles.control_gene: the barcode library {library} has no guides of gene 'nontargeting'"
        in line
    )
    assert "did you mean 'non-targeting'?" in line
    renamed = tiny_screen_config(parameters={"profiles": {"control_gene": "non-targeting"}})
    renamed.write_text(renamed.read_text().replace(str(info.barcode_csv), str(library)))
    result = CliRunner().invoke(
        main, ["run", "pcp-generic", "--config", str(renamed), "--compile-only"]
    )
    assert result.exit_code == 0, result.output


def test_a_setting_given_twice_is_refused_with_both_lines(tiny_screen_config):
    config = tiny_screen_config(backend={"cores": 2})
    text = config.read_text()
    config.write_text(text + "backend:\n  cores: 1\n")  # PyYAML alone keeps the second silently
    first = next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("backend:"))
    line = _fails(config)
    assert f"screen.yaml: line {len(text.splitlines()) + 1}: key 'backend' is given twice" in line
    assert f"(first on line {first})" in line


def test_a_config_that_is_not_utf8_is_named(tiny_screen_config):
    config = tiny_screen_config()
    config.write_bytes(config.read_bytes() + b"# caf\xe9\n")  # Latin-1, as some editors save
    line = _fails(config)
    assert "screen config" in line and "screen.yaml is not UTF-8 text" in line


def test_a_home_relative_path_is_expanded(tmp_path, tiny_screen_config, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    line = _fails(tiny_screen_config(images_path="~/no-images-here"))
    assert f"{tmp_path}/home/no-images-here" in line and "does not exist" in line
    assert "/~/" not in line  # before: taken as a folder named '~' beside the config


def test_a_misspelt_resource_is_refused_with_a_close_match(tiny_screen_config):
    line = _fails(tiny_screen_config(backend={"default_resources": {"mem_mbb": 4000}}))
    assert "backend.default_resources: resource 'mem_mbb' is not one Snakemake knows" in line
    assert "did you mean 'mem_mb'?" in line


def test_an_unknown_executor_is_named_with_the_installed_ones(tiny_screen_config):
    line = _fails(tiny_screen_config(backend={"executor": "slrum"}))
    assert "backend.executor: unknown executor 'slrum' (installed: local," in line
    assert "did you mean 'slurm'?" in line


def test_index_and_inventory_commands_refuse_a_workspace_they_cannot_use(tiny_screen, tmp_path):
    _, _, info = tiny_screen
    images = str(info.images_path)
    (tmp_path / "a_file").write_text("x")
    runner = CliRunner()
    for argv in (["index", "gen"], ["inventory", "gen"]):
        inside = runner.invoke(main, [*argv, "--workspace", f"{images}/ws", "--images", images])
        assert inside.exit_code != 0 and "Traceback" not in inside.output
        assert "is inside the images folder" in inside.output and "read-only" in inside.output
        a_file = runner.invoke(
            main, [*argv, "--workspace", str(tmp_path / "a_file"), "--images", images]
        )
        assert a_file.exit_code != 0 and "Traceback" not in a_file.output, a_file.output
        assert "a_file" in a_file.output and "Not a directory" in a_file.output
    assert not (info.images_path / "ws").exists()


def test_a_barcode_path_that_is_not_text_is_named_as_such(tiny_screen_config):
    config = tiny_screen_config()
    text = config.read_text()
    for value in ("null", "[a.csv]", "12"):
        config.write_text("\n".join(
            f"  barcode_csv_path: {value}" if line.strip().startswith("barcode_csv_path:") else line
            for line in text.splitlines()
        ))  # fmt: skip
        line = _fails(config)
        assert "barcode_csv_path" in line and "/None" not in line and "['a.csv']" not in line, line


def test_settings_snakemake_refuses_are_named_on_the_console(tiny_screen_config):
    line = _fails(tiny_screen_config(backend={"extra_args": ["--nonexistent-flag"]}))
    assert "Snakemake did not start the run:" in line
    assert "unrecognized arguments: --nonexistent-flag (log:" in line


def test_index_settings_are_named_by_their_screen_config_keys(tiny_screen_config):
    line = _fails(tiny_screen_config(index_preset="defualt"))
    assert "screen.yaml: index_preset: unknown index preset 'defualt'; available: default" in line
    line = _fails(tiny_screen_config(index_patterns=["(unclosed"]))
    assert "screen.yaml: index_patterns: index pattern '(unclosed' is not a valid regular" in line
