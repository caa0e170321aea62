"""SBS illumination calculation (unit of work: plate x cycle)."""

from starrynight.modules.sbs_illum_calc.module import (
    SBSIllumCalcGenCPipeModule,
    SBSIllumCalcGenLoadDataModule,
    SBSIllumCalcInvokeCPModule,
)

__all__ = [
    "SBSIllumCalcGenCPipeModule",
    "SBSIllumCalcGenLoadDataModule",
    "SBSIllumCalcInvokeCPModule",
]
