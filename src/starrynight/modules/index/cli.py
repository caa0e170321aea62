"""`starrynight index gen|presets`: parse the inventory into the index tables and index.yaml."""

from __future__ import annotations

import click


@click.group("index")
def index_group() -> None:
    """Parse image paths into plates, wells, sites, cycles and channels."""


@click.command("gen")
@click.option("--workspace", "-w", required=True, help="Workspace (folder or URL).")
@click.option(
    "--images",
    "-i",
    default=None,
    help="Images root: the inventory is refreshed first. Without it the existing inventory is used.",
)
@click.option(
    "--no-refresh",
    is_flag=True,
    help="With --images: use the existing inventory (an inventory step just wrote it); the "
    "image headers under --images are still checked.",
)
@click.option("--preset", default="default", show_default=True, help="Parser preset name.")
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    help="Regex with named groups matched against each relative path (repeatable; replaces --preset).",
)
def gen_command(
    workspace: str, images: str | None, no_refresh: bool, preset: str, patterns: tuple[str, ...]
) -> None:
    """Write the index, the unparsed table and <workspace>/index.yaml, then print a summary."""
    from starrynight.index_table import IndexBuildError, read_manifest
    from starrynight.modules.index.index import build_index
    from starrynight.modules.index.parse import ParserError
    from starrynight.modules.inventory.inventory import InventoryError, stderr_progress

    try:
        manifest_path = build_index(
            workspace, images, preset=preset, patterns=list(patterns) or None,
            progress=stderr_progress, refresh_inventory=not no_refresh,
        )  # fmt: skip
    except (IndexBuildError, InventoryError, ParserError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:  # e.g. a workspace path that is a file
        raise click.ClickException(f"{error.filename}: {error.strerror}") from None
    manifest = read_manifest(manifest_path)
    counts = manifest["counts"]
    click.echo(f"indexed {counts['indexed']:,} of {counts['files']:,} files -> {manifest_path}")
    for arm, count in counts["by_arm"].items():
        click.echo(f"  {arm}: {count:,}")
    if counts["unparsed"]:
        click.echo(f"unparsed {counts['unparsed']:,} (table: {manifest['tables']['unparsed']}):")
        for reason, count in counts["unparsed_by_reason"].items():
            click.echo(f"  {count:>8,}  {reason}")


@click.command("presets")
def presets_command() -> None:
    """List the parser presets and the layouts they read."""
    from starrynight.modules.index.parse import PRESETS

    for name, parser in PRESETS.items():
        click.echo(f"{name}: {parser.description}")


index_group.add_command(gen_command)
index_group.add_command(presets_command)
