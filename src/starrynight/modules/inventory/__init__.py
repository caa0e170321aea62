"""Inventory step: list every file under the images root into a parquet table."""
