"""SBS illumination calculation (unit of work: plate x cycle)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.sbs_illum_calc.step import SBS_ILLUM_CALC

SBSIllumCalcGenLoadDataModule, SBSIllumCalcGenCPipeModule, SBSIllumCalcInvokeCPModule = (
    module_classes(SBS_ILLUM_CALC, "SBSIllumCalc", __name__)
)
