"""Alembic environment and revisions; run through ``kejin db upgrade``."""
