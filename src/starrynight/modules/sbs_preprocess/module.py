"""The SBS preprocessing / barcode calling step's three modules."""

from starrynight.modules.cellprofiler_step import GenCPipeModule, GenLoadDataModule, InvokeCPModule
from starrynight.modules.sbs_preprocess.step import SBS_PREPROCESS


class SBSPreprocessGenLoadDataModule(GenLoadDataModule):
    """Write the LoadData CSVs of SBS preprocessing (one per site chunk of a well)."""

    cp_step = SBS_PREPROCESS


class SBSPreprocessGenCPipeModule(GenCPipeModule):
    """Write the SBS preprocessing / barcode calling pipeline."""

    cp_step = SBS_PREPROCESS


class SBSPreprocessInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: foci with called and matched barcodes (Foci.csv) per site chunk."""

    cp_step = SBS_PREPROCESS
