"""SBS illumination apply + alignment of every cycle to cycle 1 (unit of work: site chunk of a well)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.sbs_illum_apply.step import SBS_ILLUM_APPLY

SBSIllumApplyGenLoadDataModule, SBSIllumApplyGenCPipeModule, SBSIllumApplyInvokeCPModule = (
    module_classes(SBS_ILLUM_APPLY, "SBSIllumApply", __name__)
)
