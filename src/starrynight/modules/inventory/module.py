"""`GenInvModule`: the inventory step as a module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starrynight import naming
from starrynight.modules.base import StarryNightModule, register_module

if TYPE_CHECKING:
    import pipecraft as pc


@register_module
class GenInvModule(StarryNightModule):
    """List every file under the images root into the workspace's inventory table."""

    module_id = "gen_inventory"
    step = "inventory"
    requires_experiment = False

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        return (
            {"images": self.data_config.images_path},
            {"inventory": naming.inventory_table(self.workspace)},
        )

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        return pc.Command(
            name="gen_inventory",
            argv=[
                "starrynight",
                "inventory",
                "gen",
                "--images",
                str(self.spec.inputs["images"]),
                "--workspace",
                str(self.workspace),
            ],
            inputs={"images": [str(self.spec.inputs["images"])]},  # re-listed when it changed
            outputs={"inventory": [self.spec.outputs["inventory"]]},
            container=self.container_image,
        )
