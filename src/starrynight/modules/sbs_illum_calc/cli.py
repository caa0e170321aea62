"""`starrynight sbs illum-calc loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.sbs_illum_calc.step import SBS_ILLUM_CALC

cli = step_cli(SBS_ILLUM_CALC)
