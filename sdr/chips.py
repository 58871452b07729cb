"""Our WhatsApp numbers. A provider configured through the environment gets its chip here."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sdr.channels import evolution, meta, sandbox
from sdr.models import Chip
from sdr.settings import Settings


def ensure_env_chips(session: Session, settings: Settings) -> int:
    """Register the sandbox chip and one chip per environment-configured provider (idempotent)."""
    rows = [{"provider": sandbox.PROVIDER, "external_id": sandbox.CHANNEL_REF, "name": "Sandbox"}]
    if settings.evolution:
        rows.append({"provider": evolution.PROVIDER, "external_id": settings.evolution.instance,
                     "name": f"Evolution {settings.evolution.instance}"})
    if settings.meta:
        rows.append({"provider": meta.PROVIDER, "external_id": settings.meta.phone_number_id,
                     "name": f"Meta {settings.meta.phone_number_id}"})
    statement = (insert(Chip).values(rows).on_conflict_do_nothing(index_elements=["provider", "external_id"])
                 .returning(Chip.id))
    return len(session.execute(statement).all())
