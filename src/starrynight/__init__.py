"""StarryNight: optical pooled screen processing (Cell Painting + SBS) on CellProfiler and Snakemake."""

__version__ = "0.1.0"
