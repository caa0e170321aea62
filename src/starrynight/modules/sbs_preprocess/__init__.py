"""SBS preprocessing: background, colour compensation, foci, barcode calls (unit: site chunk of a well)."""

from starrynight.modules.sbs_preprocess.module import (
    SBSPreprocessGenCPipeModule,
    SBSPreprocessGenLoadDataModule,
    SBSPreprocessInvokeCPModule,
)

__all__ = ["SBSPreprocessGenCPipeModule", "SBSPreprocessGenLoadDataModule", "SBSPreprocessInvokeCPModule"]
