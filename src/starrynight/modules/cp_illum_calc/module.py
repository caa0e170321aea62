"""The CP illumination calculation step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.cp_illum_calc.step import CP_ILLUM_CALC


class CPIllumCalcGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of CP illumination calculation (one per plate)."""

    cp_step = CP_ILLUM_CALC


class CPIllumCalcGenCPipeModule(GenCPipeModule):
    """Write the CP illumination calculation pipeline."""

    cp_step = CP_ILLUM_CALC


class CPIllumCalcInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: one illumination function per CP channel and plate."""

    cp_step = CP_ILLUM_CALC
