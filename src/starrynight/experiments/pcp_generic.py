"""The generic pooled Cell Painting experiment: CP arm + SBS arm, configured from the index.

`PCPGenericExperiment.from_index(index_path, init_config)` infers what the images say
(plates, wells, sites, cycles, channels) and takes from the user only what they cannot say
(channel roles, barcode library, overlap, optional renames and per-arm overrides).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from starrynight import naming
from starrynight.algorithms.geometry.acquisition import GeometryError
from starrynight.config import AnyPath, PathField, RemotePath, to_path, write_text_atomic
from starrynight.experiments.barcodes import (
    BarcodeLibraryError,
    check_barcode_csv,
    check_library_against_cycles,
)
from starrynight.experiments.geometry import (
    ExperimentGeometry,
    GeometryOverrides,
    images_root_hint,
    infer_geometry,
)
from starrynight.experiments.inference import (
    ArmLayout,
    InferenceError,
    check_names,
    check_plate_batches,
    common_wells,
    infer_arm,
    natural_key,
    single_value,
)
from starrynight.index_table import IndexBuildError, load_index, read_manifest
from starrynight.messages import fields_at
from starrynight.naming.sbs import image_channel

SCHEMA_VERSION = 1
BASES = ("A", "C", "G", "T")
INDEX_COLUMNS = [
    "dataset", "source", "batch", "plate", "arm", "magnification", "cycle", "well",
    "site", "channels",
]  # fmt: skip


class ExperimentError(Exception):
    """An experiment cannot be built or read; the message names the setting, channel, well or cycle."""


# ----------------------------------------------------------------------------- init config
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmOverrides(_Strict):
    """Optional per-arm settings; anything left out is inferred or taken from the top level."""

    channel_map: dict[str, str] = Field(
        default_factory=dict, description="microscope channel name -> name used downstream"
    )
    nuclear_channel: str | None = None
    sites_per_well: int | None = Field(default=None, ge=1)


class SBSOverrides(ArmOverrides):
    base_channels: dict[Literal["A", "C", "G", "T"], str] | None = Field(
        default=None, description="base -> SBS channel name; default: channels named A, C, G, T"
    )


class PCPInitConfig(_Strict):
    """What the user supplies; the seed's five keys plus optional maps and overrides."""

    nuclear_channel: str
    cell_channel: str
    mito_channel: str
    barcode_csv_path: PathField
    image_overlap_percentage: float = Field(ge=0, lt=100)
    channel_map: dict[str, str] = Field(
        default_factory=dict, description="microscope channel name -> name, for both arms"
    )
    cp: ArmOverrides = Field(default_factory=ArmOverrides)
    sbs: SBSOverrides = Field(default_factory=SBSOverrides)
    allow_barcode_collisions: bool = Field(
        default=False,
        description="accept library barcodes of different genes that are equal in the cycles "
        "read (cells reading them are ambiguous, with no gene); default: refuse such a library",
    )

    @field_validator("image_overlap_percentage", mode="before")
    @classmethod
    def _overlap_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be a number of percent (e.g. 10), not {value}")
        return value
    geometry: GeometryOverrides = Field(default_factory=GeometryOverrides)


def parse_init_config(init_config: dict[str, Any] | PCPInitConfig) -> PCPInitConfig:
    """Validate a user's init config, turning pydantic's report into one readable message."""
    if isinstance(init_config, PCPInitConfig):
        return init_config
    if not isinstance(init_config, dict):
        raise ExperimentError(f"init config must be a mapping, got {type(init_config).__name__}")
    try:
        return PCPInitConfig.model_validate(init_config)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                allowed = fields_at(PCPInitConfig, tuple(item["loc"])[:-1])
                close = difflib.get_close_matches(str(item["loc"][-1]), allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"unknown key '{where}'{hint}")
            elif item["type"] == "missing":
                problems.append(f"missing key '{where}'")
            else:
                problems.append(f"'{where}': {item['msg']}")
        allowed = ", ".join(PCPInitConfig.model_fields)
        raise ExperimentError(
            "init config: " + "; ".join(problems) + f" (top-level keys: {allowed})"
        ) from None


# ------------------------------------------------------------------------------ the model
class CPArmConfig(_Strict):
    """Cell Painting arm. `channels` are downstream names in plane order; `channel_map` maps
    every index (microscope) channel name to its downstream name."""

    channels: list[str]
    sites_per_well: int
    nuclear_channel: str
    cell_channel: str
    mito_channel: str
    channel_map: dict[str, str]
    magnification: int | None = None


class SBSArmConfig(_Strict):
    """Sequencing arm: channels (downstream names, plane order), cycles (1..N), base roles."""

    channels: list[str]
    cycles: list[int]
    sites_per_well: int
    nuclear_channel: str
    base_channels: dict[str, str]
    channel_map: dict[str, str]
    magnification: int | None = None


class PCPGenericExperiment(_Strict):
    """A configured pooled Cell Painting screen; everything LoadData generators need."""

    name: ClassVar[str] = "pcp-generic"

    kind: Literal["pcp-generic"] = "pcp-generic"
    schema_version: int = SCHEMA_VERSION
    index_path: PathField
    dataset: str | None = None
    source: str | None = None
    batch: str | None = None
    plates: list[str]
    wells: dict[str, list[str]]
    cp: CPArmConfig
    sbs: SBSArmConfig
    barcode_csv_path: PathField
    barcode_length: int
    image_overlap_percentage: float
    geometry: ExperimentGeometry | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_index(
        cls,
        index_path: str | os.PathLike[str] | AnyPath,
        init_config: dict[str, Any] | PCPInitConfig,
    ) -> PCPGenericExperiment:
        """Infer the screen from an index (index.yaml, parquet or CSV) plus the user's init config."""
        config = parse_init_config(init_config)
        try:
            barcode_length = check_barcode_csv(config.barcode_csv_path)
            path = to_path(index_path)
            images_root = images_root_hint(read_manifest(path)) if path.name.endswith((".yaml", ".yml")) else None
            index = load_index(index_path, ["key", *INDEX_COLUMNS])
            experiment = cls.from_frame(index, config, path, barcode_length, images_root)
            check_library_against_cycles(
                config.barcode_csv_path, len(experiment.sbs.cycles), config.allow_barcode_collisions
            )
            return experiment
        except (BarcodeLibraryError, IndexBuildError, InferenceError, GeometryError) as error:
            raise ExperimentError(str(error)) from error

    @classmethod
    def from_frame(
        cls, index: pl.DataFrame, config: PCPInitConfig, index_path: AnyPath, barcode_length: int,
        images_root: AnyPath | None = None,
    ) -> PCPGenericExperiment:
        if index.height == 0:
            raise ExperimentError(f"index {index_path} has no images")
        check_plate_batches(index)
        check_names(index)
        cp = infer_arm(index, "CP", config.cp.sites_per_well)
        sbs = infer_arm(index, "SBS", config.sbs.sites_per_well)
        wells = common_wells(cp, sbs)
        _check_map_keys(config, cp.channels, sbs.channels)
        return cls(
            index_path=index_path,
            dataset=single_value(index, "dataset"),
            source=single_value(index, "source"),
            batch=single_value(index, "batch"),
            plates=sorted(wells, key=natural_key),
            wells=wells,
            cp=_cp_arm(cp, config),
            sbs=_sbs_arm(sbs, config),
            barcode_csv_path=config.barcode_csv_path,
            barcode_length=barcode_length,
            image_overlap_percentage=config.image_overlap_percentage,
            geometry=infer_geometry(
                index, images_root if "key" in index.columns else None, cp.magnification,
                sbs.magnification, cp.sites_per_well, sbs.sites_per_well,
                config.image_overlap_percentage, config.geometry,
            ),
        )

    # ------------------------------------------------------------------ persistence
    def to_json(self, path: str | os.PathLike[str] | AnyPath) -> AnyPath:
        """Write atomically; paths inside the workspace are stored relative so it can move."""
        target = to_path(path)
        data = self.model_dump(mode="json")
        for field in ("index_path", "barcode_csv_path"):
            data[field] = _store(getattr(self, field), target)
        write_text_atomic(target, json.dumps(data, indent=2) + "\n")
        return target

    @classmethod
    def from_json(cls, path: str | os.PathLike[str] | AnyPath) -> PCPGenericExperiment:
        source = to_path(path)
        try:
            data = json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ExperimentError(f"cannot read experiment {source}: {error}") from error
        if not isinstance(data, dict):
            raise ExperimentError(f"{source} is not an experiment file")
        for field in ("index_path", "barcode_csv_path"):
            if isinstance(data.get(field), str):
                data[field] = _load(data[field], source)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ExperimentError(
                f"{source} is not a valid {cls.name} experiment: {error}"
            ) from None

    def summary(self) -> str:
        wells = sum(len(w) for w in self.wells.values())
        lines = [
            f"experiment {self.kind}: index {self.index_path}",
            f"  plates: {', '.join(self.plates)}  ({wells} wells)",
            *(f"    {p}: {', '.join(self.wells[p])}" for p in self.plates),
            f"  CP: {self.cp.sites_per_well} sites/well; channels {', '.join(self.cp.channels)}"
            f" (nuclei {self.cp.nuclear_channel}, cell {self.cp.cell_channel},"
            f" mito {self.cp.mito_channel})",
            f"  SBS: {len(self.sbs.cycles)} cycles; {self.sbs.sites_per_well} sites/well;"
            f" channels {', '.join(self.sbs.channels)} (nuclei {self.sbs.nuclear_channel};"
            f" bases {', '.join(f'{b}={c}' for b, c in self.sbs.base_channels.items())})",
            f"  barcodes: {self.barcode_csv_path} (length {self.barcode_length});"
            f" overlap {self.image_overlap_percentage}%",
            *([f"  geometry: {self.geometry.summary()}"] if self.geometry else []),
        ]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ helpers
def _channel_map(raw: list[str], arm: str, *maps: dict[str, str]) -> dict[str, str]:
    """Full raw -> downstream name map for an arm; later maps win; renames must stay unique."""
    merged: dict[str, str] = {}
    for mapping in maps:
        merged.update({k: v for k, v in mapping.items() if k in raw})
    full = {name: merged.get(name, name) for name in raw}
    names = list(full.values())
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ExperimentError(
            f"{arm} channel_map gives several channels the name(s) {', '.join(clash)}"
        )
    _check_safe_names(names, arm)
    return full


def _check_safe_names(names: list[str], arm: str) -> None:
    """Image and file names keep letters, digits and `_` only (case may fold on disk)."""
    seen: dict[str, str] = {}
    for name in names:
        if not image_channel(name).isascii():
            raise ExperimentError(
                f"{arm} channel '{name}' has non-ASCII letters, which CellProfiler image names "
                "cannot hold; rename it with init config channel_map (e.g. {'"
                + name + "': '" + name.encode("ascii", "ignore").decode() + "'})"
            )
        safe = image_channel(name).casefold()
        if safe in seen:
            raise ExperimentError(
                f"{arm} channels '{seen[safe]}' and '{name}' both become '{image_channel(name)}' "
                "in CellProfiler image and file names (only letters, digits and _ are kept, and "
                "case may not count on disk); rename one with init config channel_map"
            )
        seen[safe] = name


def _check_map_keys(config: PCPInitConfig, cp_raw: list[str], sbs_raw: list[str]) -> None:
    for key in config.channel_map:
        if key not in cp_raw and key not in sbs_raw:
            raise ExperimentError(
                f"init config channel_map: channel '{key}' is in neither arm "
                f"(CP: {', '.join(cp_raw)}; SBS: {', '.join(sbs_raw)})"
            )
    for arm, overrides, raw in (("cp", config.cp, cp_raw), ("sbs", config.sbs, sbs_raw)):
        for key in overrides.channel_map:
            if key not in raw:
                raise ExperimentError(
                    f"init config {arm}.channel_map: channel '{key}' is not in the {arm.upper()} arm "
                    f"channel ({', '.join(raw)})"
                )


def _require(channel: str, setting: str, arm: str, channels: list[str]) -> str:
    if channel not in channels:
        raise ExperimentError(
            f"init config {setting}: channel '{channel}' is not {'an' if arm == 'SBS' else 'a'} {arm} channel "
            f"({arm} channels: {', '.join(channels)})"
        )
    return channel


def _cp_arm(layout: ArmLayout, config: PCPInitConfig) -> CPArmConfig:
    channel_map = _channel_map(layout.channels, "CP", config.channel_map, config.cp.channel_map)
    channels = [channel_map[c] for c in layout.channels]
    nuclear = config.cp.nuclear_channel or config.nuclear_channel
    setting = "cp.nuclear_channel" if config.cp.nuclear_channel else "nuclear_channel"
    return CPArmConfig(
        channels=channels,
        sites_per_well=layout.sites_per_well,
        nuclear_channel=_require(nuclear, setting, "CP", channels),
        cell_channel=_require(config.cell_channel, "cell_channel", "CP", channels),
        mito_channel=_require(config.mito_channel, "mito_channel", "CP", channels),
        channel_map=channel_map,
        magnification=layout.magnification,
    )


def _sbs_arm(layout: ArmLayout, config: PCPInitConfig) -> SBSArmConfig:
    channel_map = _channel_map(layout.channels, "SBS", config.channel_map, config.sbs.channel_map)
    channels = [channel_map[c] for c in layout.channels]
    if config.sbs.base_channels is not None:
        missing = [b for b in BASES if b not in config.sbs.base_channels]
        if missing:
            raise ExperimentError(
                f"init config sbs.base_channels lacks base(s) {', '.join(missing)}"
            )
        bases = {
            b: _require(config.sbs.base_channels[b], f"sbs.base_channels.{b}", "SBS", channels)
            for b in BASES
        }
        shared = sorted({c for c in bases.values() if list(bases.values()).count(c) > 1})
        if shared:
            raise ExperimentError(
                "init config sbs.base_channels maps several bases to one channel: "
                + "; ".join(
                    f"{', '.join(b for b in BASES if bases[b] == c)} -> {c}" for c in shared
                )
                + " (each base needs its own channel)"
            )
    else:
        missing = [b for b in BASES if b not in channels]
        if missing:
            raise ExperimentError(
                f"SBS arm has no channel for base(s) {', '.join(missing)} "
                f"(SBS channels: {', '.join(channels)}); name them in init config sbs.base_channels"
            )
        bases = {b: b for b in BASES}
    nuclear = config.sbs.nuclear_channel or config.nuclear_channel
    setting = "sbs.nuclear_channel" if config.sbs.nuclear_channel else "nuclear_channel (for SBS)"
    stained = [b for b in BASES if bases[b] == nuclear]
    if stained:
        raise ExperimentError(
            f"init config: SBS channel '{nuclear}' is both the nuclear stain ({setting}) and the "
            f"channel of base(s) {', '.join(stained)} (sbs.base_channels)"
        )
    return SBSArmConfig(
        channels=channels,
        cycles=layout.cycles,
        sites_per_well=layout.sites_per_well,
        nuclear_channel=_require(nuclear, setting, "SBS", channels),
        base_channels=bases,
        channel_map=channel_map,
        magnification=layout.magnification,
    )


def _workspace_of(json_path: AnyPath) -> AnyPath:
    """The workspace an experiment file belongs to (its own folder if not at the standard place)."""
    candidate = json_path.parent.parent
    return candidate if naming.experiment_json(candidate) == json_path else json_path.parent


def _store(path: AnyPath, json_path: AnyPath) -> str:
    workspace = _workspace_of(json_path)
    inside = (
        path.is_relative_to(workspace)
        if isinstance(path, RemotePath)
        else isinstance(workspace, Path) and path.is_relative_to(workspace)
    )
    if not inside:
        return str(path)
    if isinstance(path, RemotePath):
        return os.path.relpath(path.path, json_path.parent.path).replace(os.sep, "/")  # type: ignore[union-attr]
    return Path(os.path.relpath(path, json_path.parent)).as_posix()


def _load(stored: str, json_path: AnyPath) -> AnyPath:
    if "://" in stored or os.path.isabs(stored):
        return to_path(stored)
    if isinstance(json_path, RemotePath):
        return json_path.parent / stored
    return (json_path.parent / stored).resolve()
