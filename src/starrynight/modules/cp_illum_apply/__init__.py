"""CP illumination apply with segmentation and measurements (unit of work: well or site chunk)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.cp_illum_apply.step import CP_ILLUM_APPLY

CPIllumApplyGenLoadDataModule, CPIllumApplyGenCPipeModule, CPIllumApplyInvokeCPModule = (
    module_classes(CP_ILLUM_APPLY, "CPIllumApply", __name__)
)
