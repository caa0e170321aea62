"""Stitch: per well, stitch both arms, register SBS onto CP and cut matching crops (the units
analysis runs on when the arms image different fields)."""

from starrynight.modules.stitch.module import StitchModule
from starrynight.modules.stitch.step import StitchParameters, stitched

__all__ = ["StitchModule", "StitchParameters", "stitched"]
