"""Screen geometry: acquisition layouts, OME stage metadata, stitching, CP<->SBS registration, crops.

Pure functions over numpy arrays and small pydantic models; file input and output live in
`io.py` and the CLI, so every algorithm is testable on arrays alone.
"""
