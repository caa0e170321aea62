"""The profiles, hits and gate modules in the screen's pipeline: inspectable, configurable."""

from __future__ import annotations

import json

import pytest

from starrynight import naming
from starrynight.modules.base import get_module
from starrynight.pipelines.pcp_generic import ParameterError, create_pcp_generic_pipeline


def _commands(graph) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def walk(node) -> None:
        if hasattr(node, "parts"):
            for part in node.parts:
                walk(part)
        else:
            out[node.name] = node.argv

    walk(graph)
    return out


def test_profiles_and_hits_run_after_analysis_with_their_parameters(tiny_screen) -> None:
    data_config, experiment, _ = tiny_screen
    modules, graph = create_pcp_generic_pipeline(
        data_config, experiment, {"profiles": {"aggregation": "mean"}, "hits": {"fdr": 0.05}}
    )
    ids = [m.module_id for m in modules]
    assert (
        ids.index("analysis_table")
        < ids.index("profiles")
        < ids.index("hits")
        < ids.index("qc_report")
    )
    argv = _commands(graph)
    assert (
        json.loads(argv["profiles"][argv["profiles"].index("--parameters") + 1])["aggregation"]
        == "mean"
    )
    assert json.loads(argv["hits"][argv["hits"].index("--parameters") + 1])["fdr"] == 0.05
    assert not any(name.startswith("qc_gate") for name in argv)  # no gate unless one is configured
    profiles = modules[ids.index("profiles")]
    text = profiles.spec.describe()
    assert (
        "normalization (Literal" in text
        and str(naming.profiles.guide_profiles(data_config.workspace_path)) in text
    )


def test_a_configured_gate_joins_the_pipeline_before_analysis(tiny_screen) -> None:
    data_config, experiment, _ = tiny_screen
    _, graph = create_pcp_generic_pipeline(
        data_config, experiment, {"qc": {"gates": ["alignment_score"]}}
    )
    argv = _commands(graph)
    assert "qc_gate_before_analysis" in argv and "qc_gate_before_profiles" not in argv
    assert get_module("qc_gate_before_analysis").stage == "before_analysis"


def test_bad_settings_are_named(tiny_screen) -> None:
    data_config, experiment, _ = tiny_screen
    with pytest.raises(ParameterError, match=r"parameters\.profiles\.normalization: .*'zscore'"):
        create_pcp_generic_pipeline(
            data_config, experiment, {"profiles": {"normalization": "zscore"}}
        )
    with pytest.raises(ParameterError, match=r"parameters\.qc\.gates"):
        create_pcp_generic_pipeline(data_config, experiment, {"qc": {"gates": ["alignment"]}})
