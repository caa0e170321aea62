"""Index step: parse inventory keys into plates, wells, sites, cycles and channels."""
