"""`starrynight illum apply loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.cp_illum_apply.step import CP_ILLUM_APPLY

cli = step_cli(CP_ILLUM_APPLY)
