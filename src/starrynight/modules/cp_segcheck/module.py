"""The CP segmentation check step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.cp_segcheck.step import CP_SEGCHECK


class CPSegcheckGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of the CP segmentation check (one per well, sampled sites)."""

    cp_step = CP_SEGCHECK


class CPSegcheckGenCPipeModule(GenCPipeModule):
    """Write the CP segmentation check pipeline."""

    cp_step = CP_SEGCHECK


class CPSegcheckInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: outline overlays and nuclei/cell counts of the sampled sites."""

    cp_step = CP_SEGCHECK
