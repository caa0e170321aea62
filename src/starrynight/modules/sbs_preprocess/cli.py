"""`starrynight sbs preprocess loaddata|cppipe`."""

from starrynight.modules.cellprofiler_step import step_cli
from starrynight.modules.sbs_preprocess.step import SBS_PREPROCESS

cli = step_cli(SBS_PREPROCESS)
