"""`starrynight sbs illum-apply loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.sbs_illum_apply.step import SBS_ILLUM_APPLY

cli = step_cli(SBS_ILLUM_APPLY)
