"""Choices and defaults the CLI's parser offers, in a module that imports nothing: the parser is
built at every `crowdtune` start, before any command needs the modules these belong to."""

from __future__ import annotations

# The file formats `crowdtune import` reads (store/importing.py).
IMPORT_FORMATS = ("dolly", "alpaca", "sharegpt", "openai")
# What to do with records whose prompt is a near-duplicate (ROUGE-L F1 >= threshold) of a
# stored example or of an earlier record of the same file.
NEAR_DUPLICATE_MODES = ("off", "report", "skip")
# Accepted examples per origin for the report's diversity figures (store/report/sourcing.py).
REPORT_SAMPLE = 200
