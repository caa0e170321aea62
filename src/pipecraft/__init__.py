"""pipecraft: compose command graphs and run them through Snakemake.

A generic library: it knows nothing about microscopy and never imports starrynight.
"""
