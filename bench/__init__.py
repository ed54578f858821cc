"""Benchmark scripts and the dataset stand-ins they import; run as `python -m bench.<name>`."""
