"""Lead temperature: engagement fades with time (half-life from the playbook); fit does not."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_DECAY = text("""
UPDATE leads SET
    engagement_score = engagement_score
        * power(0.5, extract(epoch FROM now() - engagement_decayed_at) / (:half_life_hours * 3600.0)),
    engagement_decayed_at = now()
WHERE engagement_score > 0.001 AND engagement_decayed_at < now() - interval '1 minute'
""")


def decay_engagement(session: Session, half_life_hours: float) -> int:
    """Decay every lead's engagement in one statement; returns how many leads changed."""
    return session.execute(_DECAY, {"half_life_hours": half_life_hours}).rowcount
