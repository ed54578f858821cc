"""Alembic environment and revisions: the only way crowdtune's schema changes."""
