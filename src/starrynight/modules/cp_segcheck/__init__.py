"""CP segmentation check: outline overlays and counts on sampled sites (unit of work: well)."""

from starrynight.modules.cp_segcheck.module import (
    CPSegcheckGenCPipeModule,
    CPSegcheckGenLoadDataModule,
    CPSegcheckInvokeCPModule,
)
from starrynight.modules.cp_segcheck.step import for_illum_apply

__all__ = [
    "CPSegcheckGenCPipeModule",
    "CPSegcheckGenLoadDataModule",
    "CPSegcheckInvokeCPModule",
    "for_illum_apply",
]
