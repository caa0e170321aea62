"""Analysis: CP<->SBS registration, segmentation and phenotype features (CellProfiler), foci
assigned to cells (Python), and the run's per-cell table."""

from starrynight.modules.analysis.module import (
    AnalysisGenCPipeModule,
    AnalysisGenLoadDataModule,
    AnalysisInvokeCPModule,
    AnalysisJoinModule,
    AnalysisTableModule,
    analysis_modules,
)
from starrynight.modules.analysis.step import AnalysisParameters

__all__ = [
    "AnalysisGenCPipeModule",
    "AnalysisGenLoadDataModule",
    "AnalysisInvokeCPModule",
    "AnalysisJoinModule",
    "AnalysisParameters",
    "AnalysisTableModule",
    "analysis_modules",
]
