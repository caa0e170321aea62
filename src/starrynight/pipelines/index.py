"""The index pipeline: list the images root, then parse it into the index (no experiment needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starrynight.modules.base import StarryNightModule

if TYPE_CHECKING:
    import pipecraft as pc
    from starrynight.config import DataConfig
    from starrynight.experiments.protocol import Experiment


def create_index_pipeline(
    data_config: DataConfig, experiment: Experiment | None = None, parameters: dict[str, Any] | None = None
) -> tuple[list[StarryNightModule], pc.Seq]:
    """GenInvModule then GenIndexModule reading its inventory; `parameters` are the index's
    (`preset`, `patterns`). `experiment` is ignored: the index is what experiments come from."""
    import pipecraft as pc
    from starrynight.modules.index import GenIndexModule
    from starrynight.modules.inventory import GenInvModule

    inventory = GenInvModule.from_config(data_config)
    index = GenIndexModule.from_config(data_config, **(parameters or {})).after_inventory(inventory)
    return [inventory, index], pc.Seq([inventory.pipeline, index.pipeline])
