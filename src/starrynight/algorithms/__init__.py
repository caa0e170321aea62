"""Pure image and measurement maths shared by the CLI and the CellProfiler plugins.

Modules here depend on numpy only (and the standard library), so they import in both
StarryNight's environment (numpy 2) and CellProfiler's (numpy 1.26).
"""
