"""Hits: phenotypic activity per gene against non-targeting controls (copairs mAP, FDR)."""

from starrynight.modules.hits.module import HitsModule
from starrynight.modules.hits.step import HitsParameters

__all__ = ["HitsModule", "HitsParameters"]
