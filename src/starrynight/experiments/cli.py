"""`starrynight exp init|new|show`: write an init config, build an experiment, print one."""

from __future__ import annotations

from pathlib import Path

import click

INIT_TEMPLATE = """\
# StarryNight init config for a pcp-generic experiment (`starrynight exp new`).
# Plates, wells, sites, cycles and channel lists are inferred from the index;
# this file says only what the images cannot.

# Cell Painting channel roles (names as in the file names, or as renamed by channel_map)
nuclear_channel: DAPI
cell_channel: CellMask
mito_channel: MitoTracker

# Barcode library: CSV with columns sgRNA (A/C/G/T, all the same length) and gene_symbol
barcode_csv_path: /path/to/Barcodes.csv

# Overlap between neighbouring sites, in percent
image_overlap_percentage: 10

# Optional: rename microscope channel names (both arms), e.g. {"405 nm": DAPI}
channel_map: {}

# Optional per-arm overrides
cp:
  channel_map: {}
  # nuclear_channel: DAPI
  # sites_per_well: 4        # assert this many sites in every CP well
sbs:
  channel_map: {}
  # nuclear_channel: DAPI    # default: the top-level nuclear_channel
  # base_channels: {A: A, C: C, G: G, T: T}   # default: channels named A, C, G, T
  # sites_per_well: 4
"""


@click.group("exp")
def exp_group() -> None:
    """Configure an experiment from the index and an init config."""


@click.command("init")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
    default=Path("init_config.yaml"), show_default=True, help="Where to write the template.",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_command(output: Path, force: bool) -> None:
    """Write a commented init config template to edit."""
    from starrynight.config import write_text_atomic

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; use --force to overwrite it")
    write_text_atomic(output.resolve(), INIT_TEMPLATE)
    click.echo(str(output))


def _read_init_config(path: Path) -> dict[str, object]:
    from starrynight.user_yaml import UserYamlError, read_user_yaml

    try:
        data = read_user_yaml(path, "init config")  # JSON is YAML too
    except UserYamlError as error:
        raise click.ClickException(str(error)) from None
    if not isinstance(data, dict):
        raise click.ClickException(f"init config {path} must be a mapping of keys to values")
    return data


@click.command("new")
@click.option(
    "--index", "-x", "index_path", required=True, help="index.yaml, index parquet or CSV."
)
@click.option(
    "--init-config", "-c", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path), help="YAML or JSON init config.",
)  # fmt: skip
@click.option(
    "--workspace", "-w", default=None,
    help="Workspace; default: the folder of index.yaml. The experiment goes to experiment/experiment.json.",
)  # fmt: skip
@click.option("--output", "-o", default=None, help="Explicit experiment JSON path.")
@click.option("--name", default="pcp-generic", show_default=True, help="Experiment kind.")
def new_command(
    index_path: str, init_config: Path, workspace: str | None, output: str | None, name: str
) -> None:
    """Infer an experiment from the index and write its JSON."""
    from starrynight import naming
    from starrynight.config import to_path
    from starrynight.experiments.pcp_generic import ExperimentError
    from starrynight.experiments.registry import get_experiment

    config = _read_init_config(init_config)
    try:
        cls = get_experiment(name)
        index = to_path(index_path)
        if output is not None:
            target = to_path(output)
        elif workspace is not None:
            target = naming.experiment_json(to_path(workspace))
        elif naming.is_index_manifest(index):
            target = naming.experiment_json(index.parent)
        else:
            raise click.ClickException("give --workspace or --output (the index is not index.yaml)")
        experiment = cls.from_index(index, config)
        experiment.to_json(target)
    except (ExperimentError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(experiment.summary())
    click.echo(f"-> {target}")


@click.command("show")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the stored JSON instead of a summary.")
def show_command(path: str, as_json: bool) -> None:
    """Print an experiment (PATH: its JSON file or the workspace)."""
    from starrynight import naming
    from starrynight.config import to_path
    from starrynight.experiments.pcp_generic import ExperimentError
    from starrynight.experiments.registry import load_experiment

    try:
        location = to_path(path)
        if location.is_dir():
            location = naming.experiment_json(location)
        experiment = load_experiment(location)
    except (ExperimentError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(experiment.model_dump_json(indent=2) if as_json else experiment.summary())


exp_group.add_command(init_command)
exp_group.add_command(new_command)
exp_group.add_command(show_command)
