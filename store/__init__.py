"""crowdtune's domain model and persistence: a plain library, importable from a notebook."""
