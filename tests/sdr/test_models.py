"""The models and the migrations describe the same schema (every head applied, as `alembic upgrade heads` does)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from sdr.models import Base
from sdr.settings import normalize_database_url


def test_the_migrated_database_matches_the_models(database_url):
    engine = create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
