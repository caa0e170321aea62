"""The CP illumination apply step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.cp_illum_apply.step import CP_ILLUM_APPLY


class CPIllumApplyGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of CP illumination apply (one per well or site chunk)."""

    cp_step = CP_ILLUM_APPLY


class CPIllumApplyGenCPipeModule(GenCPipeModule):
    """Write the CP illumination apply and segmentation pipeline."""

    cp_step = CP_ILLUM_APPLY


class CPIllumApplyInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: corrected CP images, nuclei/cells/cytoplasm and their measurements."""

    cp_step = CP_ILLUM_APPLY
