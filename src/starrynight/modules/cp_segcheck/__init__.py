"""CP segmentation check: outline overlays and counts on sampled sites (unit of work: well)."""

from starrynight.modules.cellprofiler_step import module_classes
from starrynight.modules.cp_segcheck.step import CP_SEGCHECK, for_illum_apply  # noqa: F401 (public)

CPSegcheckGenLoadDataModule, CPSegcheckGenCPipeModule, CPSegcheckInvokeCPModule = module_classes(
    CP_SEGCHECK, "CPSegcheck", __name__
)
