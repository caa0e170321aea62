"""The stitch module: one job per well running `starrynight stitch step`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starrynight import naming
from starrynight.modules.base import StarryNightModule, UnitOfWork, register_module
from starrynight.modules.cellprofiler_step import default_upstream_units, experiment_args
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.stitch.step import StitchParameters, units
from starrynight.naming import sbs as sbs_names
from starrynight.naming import stitch as names

if TYPE_CHECKING:
    import pipecraft as pc

READS = (CP_ILLUM_APPLY, sbs_names.SBS_ILLUM_APPLY)


@register_module
class StitchModule(StarryNightModule):
    """Per well: stitch both arms, register SBS onto CP, cut matching crops, publish them."""

    module_id = "stitch"
    step = names.STITCH
    Parameters = StitchParameters

    def __init__(
        self, *args: Any, upstream: dict[str, list[UnitOfWork]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        given = upstream or {}
        #: the units of cp_illum_apply and sbs_illum_apply whose manifests a well's job reads
        self.upstream = {
            s: given[s] if s in given else default_upstream_units(s, self.experiment) for s in READS
        }

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return {"index": naming.index_table(ws)}, {"outputs": naming.outputs_dir(ws, names.STITCH)}

    @property
    def uow(self) -> list[UnitOfWork]:
        return units(self.experiment, self.parameters)

    def well_manifests(self, plate: str, well: str) -> list[str]:
        """The manifests of the upstream units holding this well's sites."""
        return [
            str(
                naming.unit_manifest(
                    naming.unit_dir(naming.outputs_dir(self.workspace, step), u.id)
                )
            )
            for step, step_units in self.upstream.items()
            for u in step_units
            if u.keys.get("plate") == plate and u.keys.get("well") in (well, None)
        ]

    def build_pipeline(self) -> pc.FanOut:
        import pipecraft as pc

        return pc.FanOut(
            name=names.STITCH,
            argv=["starrynight", "stitch", "step", "--images", str(self.data_config.images_path),
                  "--index", "{input.index}", *experiment_args(self.experiment),
                  "--parameters-json", self.parameters.model_dump_json(),
                  "--plate", "{param.plate}", "--well", "{param.well}", "--out", "{output.out}",
                  "{input.upstream}"],
            units=[
                pc.Unit(id=u.id, params=u.keys,
                        inputs={"index": [str(self.spec.inputs["index"])],
                                "upstream": self.well_manifests(u.keys["plate"], u.keys["well"])})
                for u in self.uow
            ],
            outputs={"out": pc.directory(str(naming.unit_dir(self.spec.outputs["outputs"], "{unit}")))},
            container=self.container_image,
            resources=pc.Resources(cores=1, mem_mb=4000),
        )  # fmt: skip
