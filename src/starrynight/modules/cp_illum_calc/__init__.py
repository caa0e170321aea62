"""CP illumination calculation (unit of work: plate)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.cp_illum_calc.step import CP_ILLUM_CALC

CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule = module_classes(
    CP_ILLUM_CALC, "CPIllumCalc", __name__
)
