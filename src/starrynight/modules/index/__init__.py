"""Index step: parse inventory keys into plates, wells, sites, cycles and channels."""

from starrynight.modules.index.module import GenIndexModule

__all__ = ["GenIndexModule"]
