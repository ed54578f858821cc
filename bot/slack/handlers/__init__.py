"""Bolt listeners: ack first, one call into store, render the reply."""
