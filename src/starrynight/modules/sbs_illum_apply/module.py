"""The SBS illumination apply + cycle alignment step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.sbs_illum_apply.step import SBS_ILLUM_APPLY


class SBSIllumApplyGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of SBS illumination apply + alignment (one per site chunk of a well)."""

    cp_step = SBS_ILLUM_APPLY


class SBSIllumApplyGenCPipeModule(GenCPipeModule):
    """Write the SBS illumination apply + cycle alignment pipeline."""

    cp_step = SBS_ILLUM_APPLY


class SBSIllumApplyInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: corrected SBS images of every cycle aligned to cycle 1, with shifts."""

    cp_step = SBS_ILLUM_APPLY
