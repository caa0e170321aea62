"""`HitsModule`: the ranked table of genes by phenotypic activity (plain Python)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starrynight.modules.base import StarryNightModule, register_module
from starrynight.modules.hits.step import HitsParameters
from starrynight.naming import profiles as names

if TYPE_CHECKING:
    import pipecraft as pc


@register_module
class HitsModule(StarryNightModule):
    """Score each gene's phenotypic activity against the controls (copairs mAP, permutation p, FDR)."""

    module_id = "hits"
    step = names.HITS
    Parameters = HitsParameters
    requires_experiment = False

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {"guides": names.guide_profiles(ws)}, {"hits": names.hits_table(ws)}

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name="hits",
            argv=["starrynight", "hits", "score", "--guides", str(self.spec.inputs["guides"]),
                  "--out", str(self.spec.outputs["hits"]), "--parameters", self.parameters.model_dump_json()],
            inputs={"guides": [self.spec.inputs["guides"]]},
            outputs={"hits": [self.spec.outputs["hits"]]},
            container=self.container_image,
        )  # fmt: skip
