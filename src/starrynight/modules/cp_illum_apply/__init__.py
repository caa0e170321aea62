"""CP illumination apply with segmentation and measurements (unit of work: well or site chunk)."""

from starrynight.modules.cp_illum_apply.module import (
    CPIllumApplyGenCPipeModule,
    CPIllumApplyGenLoadDataModule,
    CPIllumApplyInvokeCPModule,
)

__all__ = ["CPIllumApplyGenCPipeModule", "CPIllumApplyGenLoadDataModule", "CPIllumApplyInvokeCPModule"]
