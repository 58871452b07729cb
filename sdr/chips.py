"""Our WhatsApp numbers. A provider configured through the environment gets its chip here; more are added
with `add_chip` (`sdr chips add`).

A webhook names the chip that received a message (`channel_ref`: Evolution instance, Meta phone
number id); routing matches it to an active chip row. A message for an unknown or inactive chip
is stored (it got a 2xx, so it must not be lost) but marked `orphaned` and not answered. A
conversation belongs to one lead on one chip, so its replies always leave from that chip.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sdr.addresses import AddressError, e164
from sdr.channels import evolution, meta, sandbox, twilio, zapi
from sdr.models import Chip
from sdr.settings import CHIP_SECRET_PREFIX, Settings


def ensure_env_chips(session: Session, settings: Settings) -> int:
    """Register the sandbox chip and one chip per environment-configured provider (idempotent)."""
    rows = [{"provider": sandbox.PROVIDER, "external_id": sandbox.CHANNEL_REF, "name": "Sandbox"}]
    if settings.evolution:
        rows.append({"provider": evolution.PROVIDER, "external_id": settings.evolution.instance,
                     "name": f"Evolution {settings.evolution.instance}"})
    if settings.zapi:
        rows.append({"provider": zapi.PROVIDER, "external_id": settings.zapi.instance_id,
                     "name": f"Z-API {settings.zapi.instance_id}"})
    if settings.twilio:
        rows.append({"provider": twilio.PROVIDER, "external_id": settings.twilio.whatsapp_from,
                     "name": f"Twilio {settings.twilio.whatsapp_from}"})
    if settings.meta:
        rows.append({"provider": meta.PROVIDER, "external_id": settings.meta.phone_number_id,
                     "name": f"Meta {settings.meta.phone_number_id}"})
    statement = (insert(Chip).values(rows).on_conflict_do_nothing(index_elements=["provider", "external_id"])
                 .returning(Chip.id))
    return len(session.execute(statement).all())


PROVIDERS = ("evolution", "meta", "zapi", "twilio", "sandbox")


class ChipError(ValueError):
    """A chip that cannot be added as given; the message says which field and why."""


@dataclass(frozen=True)
class NewChip:
    provider: str
    external_id: str  # Evolution instance, Meta phone number id...
    phone: str | None = None
    name: str | None = None
    hourly_cap: int | None = None
    daily_cap: int | None = None
    credentials_ref: str | None = None  # an SDR_CHIP_SECRET_* variable name, never the secret


def add_chip(session: Session, chip: NewChip) -> int:
    """Register one more number (validated); its id. Adding the same provider + external id again fails."""
    _check(chip)
    row = {**asdict(chip), "phone": e164(chip.phone) if chip.phone else None}
    statement = (insert(Chip).values(row).on_conflict_do_nothing(index_elements=["provider", "external_id"])
                 .returning(Chip.id))
    chip_id = session.execute(statement).scalar()
    if chip_id is None:
        raise ChipError(f"a {chip.provider} chip {chip.external_id!r} already exists")
    return chip_id


def _check(chip: NewChip) -> None:
    if chip.provider not in PROVIDERS:
        raise ChipError(f"provider must be one of {', '.join(PROVIDERS)}")
    if not chip.external_id.strip():
        raise ChipError("external id is required (Meta phone number id, Evolution instance...)")
    if chip.provider == "meta" and not chip.external_id.isdigit():
        raise ChipError("a Meta chip's external id is its numeric phone number id")
    for name, cap in (("hourly cap", chip.hourly_cap), ("daily cap", chip.daily_cap)):
        if cap is not None and cap < 0:
            raise ChipError(f"{name} must be 0 or more")
    if chip.credentials_ref and not re.fullmatch(CHIP_SECRET_PREFIX + r"[A-Z0-9_]+", chip.credentials_ref):
        raise ChipError(f"credentials must name an environment variable {CHIP_SECRET_PREFIX}<NAME> "
                        "(the variable holds the token; the database never does)")
    if chip.phone:
        try:
            e164(chip.phone)
        except AddressError as exc:
            raise ChipError(f"phone: {exc}") from None


def list_chips(session: Session) -> list[Chip]:
    return list(session.scalars(select(Chip).order_by(Chip.id)))
