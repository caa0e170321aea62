"""`GenIndexModule`: the index step as a module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.modules.base import StarryNightModule, register_module

if TYPE_CHECKING:
    import pipecraft as pc


class IndexParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    preset: str = Field(
        "default", description="file-name layout preset (`starrynight index presets`)"
    )


@register_module
class GenIndexModule(StarryNightModule):
    """Parse the image paths into the index (plates, wells, sites, cycles, channels).

    Builds the inventory first when there is none yet, so it may run before GenInvModule.
    """

    module_id = "gen_index"
    step = "index"
    Parameters = IndexParameters
    requires_experiment = False

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {"images": self.data_config.images_path},
            {
                "manifest": naming.index_manifest(ws),
                "index": naming.index_table(ws),
                "unparsed": naming.unparsed_table(ws),
            },
        )

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name="gen_index",
            argv=[
                "starrynight",
                "index",
                "gen",
                "--workspace",
                str(self.workspace),
                "--images",
                str(self.spec.inputs["images"]),
                "--preset",
                self.parameters.preset,
            ],
            outputs={key: [path] for key, path in self.spec.outputs.items()},
            container=self.container_image,
        )
