"""`starrynight illum calc loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.cp_illum_calc.step import CP_ILLUM_CALC

cli = step_cli(CP_ILLUM_CALC)
