"""SBS illumination apply + alignment of every cycle to cycle 1 (unit of work: site chunk of a well)."""

from starrynight.modules.sbs_illum_apply.module import (
    SBSIllumApplyGenCPipeModule,
    SBSIllumApplyGenLoadDataModule,
    SBSIllumApplyInvokeCPModule,
)

__all__ = ["SBSIllumApplyGenCPipeModule", "SBSIllumApplyGenLoadDataModule", "SBSIllumApplyInvokeCPModule"]
