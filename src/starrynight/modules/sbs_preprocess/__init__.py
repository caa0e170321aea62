"""SBS preprocessing: background, colour compensation, foci, barcode calls (unit: site chunk of a well)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.sbs_preprocess.step import SBS_PREPROCESS

SBSPreprocessGenLoadDataModule, SBSPreprocessGenCPipeModule, SBSPreprocessInvokeCPModule = (
    module_classes(SBS_PREPROCESS, "SBSPreprocess", __name__)
)
