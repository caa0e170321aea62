"""Steps of a screen: one sub-package per step, each with its LoadData generator,
pipeline generator, CLI, modules and tests."""
