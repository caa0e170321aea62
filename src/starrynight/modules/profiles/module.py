"""`ProfilesModule`: guide and gene profiles from the per-cell table (plain Python)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starrynight.modules.base import StarryNightModule, register_module
from starrynight.modules.profiles.step import ProfilesParameters
from starrynight.naming import analysis as analysis_names
from starrynight.naming import profiles as names

if TYPE_CHECKING:
    import pipecraft as pc


@register_module
class ProfilesModule(StarryNightModule):
    """Aggregate cells per guide per well, normalise to each plate's controls, select features, aggregate per gene."""

    module_id = "profiles"
    step = names.PROFILES
    Parameters = ProfilesParameters
    requires_experiment = False

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {"cells": analysis_names.cell_table(ws)},
            {"guides": names.guide_profiles(ws), "genes": names.gene_profiles(ws),
             "summary": names.profiles_summary(ws)},
        )  # fmt: skip

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        out = self.spec.outputs
        return pc.Command(
            name="profiles",
            argv=["starrynight", "profiles", "build", "--cells", str(self.spec.inputs["cells"]),
                  "--guides-out", str(out["guides"]), "--genes-out", str(out["genes"]),
                  "--summary-out", str(out["summary"]), "--parameters", self.parameters.model_dump_json()],
            inputs={"cells": [self.spec.inputs["cells"]]},
            outputs={key: [path] for key, path in out.items()},
            container=self.container_image,
        )  # fmt: skip
