"""`QCReportModule`: the QC report as the last job of a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starrynight import naming
from starrynight.modules.base import StarryNightModule, register_module

if TYPE_CHECKING:
    import pipecraft as pc


@register_module
class QCReportModule(StarryNightModule):
    """Write the HTML QC report of the workspace (timing is added when a run summary exists)."""

    module_id = "qc_report"
    step = "qc"

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {"cells": naming.analysis.cell_table(ws)}, {"report": naming.qc_report(ws)}

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name="qc_report",
            argv=["starrynight", "qc", "report", "--workspace", str(self.workspace),
                  "--out", str(self.spec.outputs["report"])],
            inputs={"cells": [self.spec.inputs["cells"]]},
            outputs={"report": [self.spec.outputs["report"]]},
            container=self.container_image,
        )
