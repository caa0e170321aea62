"""Inventory step: list every file under the images root into a parquet table."""

from starrynight.modules.inventory.module import GenInvModule

__all__ = ["GenInvModule"]
