"""Block Kit builders: plain functions from domain values to JSON-ready dicts."""
