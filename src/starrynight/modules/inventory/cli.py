"""`starrynight inventory gen`: list the images root into the workspace's inventory table."""

from __future__ import annotations

import click


@click.group("inventory")
def inventory_group() -> None:
    """List every file under the images root (key, size, mtime) into parquet."""


@click.command("gen")
@click.option("--images", "-i", "images", required=True, help="Images root (folder or URL).")
@click.option("--workspace", "-w", "workspace", required=True, help="Workspace (folder or URL).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Listing threads.")
def gen_command(images: str, workspace: str, workers: int | None) -> None:
    """Write <workspace>/inventory/inventory.parquet (unchanged trees are not rewritten)."""
    from starrynight.modules.inventory.inventory import (
        InventoryError,
        build_inventory,
        stderr_progress,
    )

    try:
        target = build_inventory(images, workspace, workers=workers, progress=stderr_progress)
    except (InventoryError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:  # e.g. a workspace path that is a file
        raise click.ClickException(f"{error.filename}: {error.strerror}") from None
    click.echo(str(target))


inventory_group.add_command(gen_command)
