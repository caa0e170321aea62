"""`GenIndexModule`: the index step as a module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from starrynight import naming
from starrynight.modules.base import StarryNightModule, register_module

if TYPE_CHECKING:
    import pipecraft as pc


class IndexParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    preset: str = Field(
        "default", description="file-name layout preset (`starrynight index presets`)"
    )
    patterns: list[str] = Field(
        default_factory=list,
        description=(
            "user parser patterns: regexes with named groups (plate, well, site, channels or "
            "channel, and optionally dataset, source, batch, arm, cycle, magnification, "
            "timestamp, extension, <field>_check) matched against each path relative to the "
            "images root; the first that matches wins. When given they replace `preset` "
            "(same as `starrynight index gen --pattern`)"
        ),
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        from starrynight.modules.index.parse import parser_settings_problem

        problem = parser_settings_problem(preset)
        if problem:
            raise ValueError(f"GenIndexModule parameter 'preset': {problem}")
        return preset

    @field_validator("patterns", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("patterns")
    @classmethod
    def _usable_patterns(cls, patterns: list[str]) -> list[str]:
        from starrynight.modules.index.parse import parser_settings_problem

        problem = parser_settings_problem(patterns=patterns)
        if problem:
            raise ValueError(f"GenIndexModule parameter 'patterns': {problem}")
        return patterns


@register_module
class GenIndexModule(StarryNightModule):
    """Parse the image paths into the index (plates, wells, sites, cycles, channels).

    Refreshes the inventory first (so it may run before GenInvModule) and writes it too;
    `after_inventory` makes it read GenInvModule's inventory instead (one graph holding both).
    The layout comes from `preset`, or from user `patterns` (named-group regexes) that replace it.
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
                "inventory": naming.inventory_table(ws),  # refreshed from `images` first
                "index": naming.index_table(ws),
                "unparsed": naming.unparsed_table(ws),
            },
        )

    def after_inventory(self, inventory: StarryNightModule) -> GenIndexModule:
        """Read the inventory that `inventory` (a GenInvModule) writes instead of listing the
        images root again; the image headers are still read there (unusable files)."""
        self.spec.inputs = {"inventory": inventory.spec.outputs["inventory"]}
        self.spec.outputs.pop("inventory", None)
        return self

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        listed = "inventory" in self.spec.inputs
        images = self.data_config.images_path if listed else self.spec.inputs.get("images")
        return pc.Command(
            name="gen_index",
            argv=[
                "starrynight",
                "index",
                "gen",
                "--workspace",
                str(self.workspace),
                *(["--images", str(images)] if images is not None else []),
                *(["--no-refresh"] if listed else []),
                "--preset",
                self.parameters.preset,
                *(arg for pattern in self.parameters.patterns for arg in ("--pattern", pattern)),
            ],
            inputs={key: [str(path)] for key, path in self.spec.inputs.items()},
            outputs={key: [path] for key, path in self.spec.outputs.items()},
            container=self.container_image,
            reads=[str(images)] if listed and isinstance(images, Path) else [],
        )
