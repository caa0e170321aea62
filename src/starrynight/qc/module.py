"""`QCReportModule`: the QC report as the last job of a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from starrynight import naming
from starrynight.modules.base import StarryNightModule, register_module
from starrynight.qc.figures import QCParameters

if TYPE_CHECKING:
    import pipecraft as pc


#: the steps whose unit folders the report reads (besides the per-cell table)
REPORTED_STEPS = ("cp_illum_calc", "cp_segcheck", "sbs_illum_calc", "sbs_illum_apply", "sbs_preprocess")
#: the plain-Python steps after analysis whose outputs the report shows
TABLE_STEPS = ("profiles", "hits")


@register_module
class QCReportModule(StarryNightModule):
    """Write the HTML QC report of the workspace (timing is added when a run summary exists)."""

    module_id = "qc_report"
    step = "qc"
    Parameters = QCParameters
    _reported: tuple[StarryNightModule, ...] = ()
    _tables: tuple[StarryNightModule, ...] = ()

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {"cells": naming.analysis.cell_table(ws)}, {"report": naming.qc_report(ws)}

    def reading(self, modules: list[StarryNightModule]) -> QCReportModule:
        """Declare the unit folders of the reported steps among `modules` (their invoke
        modules) and the outputs of the profiles and hits steps as inputs, so a change in any
        of them refreshes the report."""
        from starrynight.modules.cellprofiler_step import InvokeCPModule

        self._reported = tuple(m for m in modules if isinstance(m, InvokeCPModule) and m.step in REPORTED_STEPS)
        self._tables = tuple(m for m in modules if m.step in TABLE_STEPS)
        return self

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        library = [str(self.experiment.barcode_csv_path)] if self.experiment is not None else []
        return pc.Command(
            name="qc_report",
            argv=["starrynight", "qc", "report", "--workspace", str(self.workspace),
                  "--out", str(self.spec.outputs["report"]), "--parameters", self.parameters.model_dump_json(),
                  *(["--barcode-csv", library[0]] if library else [])],
            inputs={"cells": [self.spec.inputs["cells"]], **({"library": library} if library else {}),
                    **{m.step: [str(m.unit_output_dir(u)) for u in m.uow] for m in self._reported},
                    **{m.step: [str(p) for p in m.spec.outputs.values()] for m in self._tables}},
            outputs={"report": [self.spec.outputs["report"]]},
            container=self.container_image,
            on_failure=True,  # a failed run gets its report, however it was started
        )


class QCGateModule(StarryNightModule):
    """Stop the run at this point when a gated figure fails its threshold (unless overridden)."""

    step = "qc"
    Parameters = QCParameters
    requires_experiment = False
    #: where the gate sits (a key of `starrynight.qc.gate.STAGES`)
    stage: ClassVar[str]

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {}, {"passed": naming.qc_gate_passed(ws, self.stage), "verdict": naming.qc_gate_verdict(ws, self.stage)}

    @property
    def active(self) -> bool:
        """Whether any gated figure is checked here."""
        from starrynight.qc.gate import gated

        return bool(gated(self.parameters, self.stage))

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name=f"qc_gate_{self.stage}",
            argv=["starrynight", "qc", "gate", "--workspace", str(self.workspace), "--stage", self.stage,
                  "--parameters", self.parameters.model_dump_json()],
            outputs={"passed": [self.spec.outputs["passed"]]},
            container=self.container_image,
        )  # fmt: skip


@register_module
class QCGateBeforeAnalysisModule(QCGateModule):
    """Stop before analysis when an SBS figure (alignment, perfect matches) fails."""

    module_id = "qc_gate_before_analysis"
    stage = "before_analysis"


@register_module
class QCGateBeforeProfilesModule(QCGateModule):
    """Stop before profiles when a cell figure (cells per well, matched share, coverage) fails."""

    module_id = "qc_gate_before_profiles"
    stage = "before_profiles"
