"""`starrynight segcheck loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.cp_segcheck.step import CP_SEGCHECK

segcheck_group = step_cli(CP_SEGCHECK)
