"""Experiments: a screen's structure inferred from the index plus the user's init config.

Find experiment classes by name with `starrynight.experiments.registry.get_experiment`.
"""
