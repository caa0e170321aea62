"""The SBS illumination calculation step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.sbs_illum_calc.step import SBS_ILLUM_CALC


class SBSIllumCalcGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of SBS illumination calculation (one per plate and cycle)."""

    cp_step = SBS_ILLUM_CALC


class SBSIllumCalcGenCPipeModule(GenCPipeModule):
    """Write the SBS illumination calculation pipeline."""

    cp_step = SBS_ILLUM_CALC


class SBSIllumCalcInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: one illumination function per SBS channel, plate and cycle."""

    cp_step = SBS_ILLUM_CALC
