"""What a step may rely on in an experiment: the protocol modules and pipelines type against.

Steps never import a concrete experiment class. Any kind registered in
`starrynight.experiments.registry` that offers these attributes runs through them; the
registry turns the JSON a job receives back into that kind. This module imports nothing
from StarryNight, so every layer can use it.
"""

from __future__ import annotations

from typing import Any, Protocol


class CPArm(Protocol):
    """The Cell Painting arm: channels in the index's spelling, their roles, sites per well."""

    channels: list[str]
    sites_per_well: int
    nuclear_channel: str
    cell_channel: str
    mito_channel: str
    #: index channel name -> the name used in CellProfiler and the tables
    channel_map: dict[str, str]
    magnification: int | None


class SBSArm(Protocol):
    """The sequencing arm: channels, cycle numbers, the nuclear channel and the base channels."""

    channels: list[str]
    cycles: list[int]
    sites_per_well: int
    nuclear_channel: str
    #: base ("A", "C", "G", "T") -> channel
    base_channels: dict[str, str]
    channel_map: dict[str, str]
    magnification: int | None


class Experiment(Protocol):
    """One screen's configuration, as every step reads it."""

    #: the registry name of the experiment's kind (its JSON's "kind")
    kind: str
    index_path: Any
    plates: list[str]
    #: plate -> its wells
    wells: dict[str, list[str]]
    cp: CPArm
    sbs: SBSArm
    barcode_csv_path: Any
    barcode_length: int
    image_overlap_percentage: float
    #: per-arm acquisition geometry and the pairing it allows (None: not inferred)
    geometry: Any

    def model_dump_json(self) -> str:
        """The experiment as JSON, which the registry reads back into the same kind."""
        ...
