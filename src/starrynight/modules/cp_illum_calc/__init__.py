"""CP illumination calculation (unit of work: plate)."""

from starrynight.modules.cp_illum_calc.module import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)

__all__ = ["CPIllumCalcGenCPipeModule", "CPIllumCalcGenLoadDataModule", "CPIllumCalcInvokeCPModule"]
