"""Turning a lead's attachment into text a turn can read: transcripts, image descriptions, document text.

A lead message with audio, an image or a document is stored with `media_status = 'pending'`
(sdr.inbound). `resolve_media` fetches its bytes within the download limits (sdr.locators,
sdr.downloads), looks the content hash up in `media_cache`, and otherwise transcribes, describes or
extracts it; then one statement stores the text on the message (`ready`) and in the cache. Failures
that will not get better (too large, unsupported, refused) mark the message `failed` with a reason
code the context renders honestly; transient ones raise `MediaRetry` until the last attempt.

Idempotent: only a `pending` message is worked on and the final write is conditional on it still
being pending, so a redelivered or concurrent resolution stores the result once. Turns wait for
pending media (sdr.turns) up to `SDR_MEDIA_MAX_WAIT_SECONDS`.

The cache lives in Postgres rather than Redis: a transcript is paid model work worth keeping, it is
small (cut at `SDR_MEDIA_TEXT_LIMIT`), and Redis here holds only timing and locks.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from sdr.documents import DocumentError, extract_text
from sdr.downloads import Blob, DownloadError, Limits, http_session
from sdr.llm import LLMError, LLMTransientError
from sdr.locators import Source, fetch_media
from sdr.runtime import Runtime
from sdr.transcription import transcribe_audio
from sdr.vision import describe_image

RESOLVED_KINDS = ("audio", "image", "document")
CUT_NOTE = "[…texto cortado: mostrados {shown} de {total} caracteres…]"

log = logging.getLogger(__name__)


class MediaRetry(Exception):
    """A transient failure (network, provider or model hiccup): worth another attempt."""


@dataclass(frozen=True)
class Resolved:
    status: str  # ready | failed | skipped (not pending any more, or unknown)
    reason: str | None = None
    cached: bool = False


def needs_resolution(kind: str, media: dict[str, Any] | None, text: str | None) -> bool:
    """Whether a stored lead message waits for its attachment to become text."""
    if not media or kind not in RESOLVED_KINDS:
        return False
    return not (kind == "audio" and text)  # the provider already transcribed it (Evolution speechToText)


def media_limits(rt: Runtime) -> Limits:
    s = rt.settings
    return Limits(s.media.max_bytes, s.provider_connect_timeout, s.media.download_seconds)


def cut_text(value: str, limit: int) -> str:
    value = value.strip()
    if len(value) <= limit:
        return value
    return value[:limit].rstrip() + "\n" + CUT_NOTE.format(shown=limit, total=len(value))


_LOAD = sql("""
SELECT id, provider, channel_ref, provider_message_id, kind, media, media_status FROM messages WHERE id = :mid
""")
_CACHED = sql("SELECT text FROM media_cache WHERE sha256 = :sha AND kind = :kind")
_READY = sql("""
WITH cached AS (
    INSERT INTO media_cache (sha256, kind, text, model) VALUES (:sha, :kind, :text, :model)
    ON CONFLICT DO NOTHING
)
UPDATE messages SET media_status = 'ready', media_text = :text, media_error = NULL
WHERE id = :mid AND media_status = 'pending'
RETURNING id
""")
_FAILED = sql("""
UPDATE messages SET media_status = 'failed', media_error = :reason WHERE id = :mid AND media_status = 'pending'
RETURNING id
""")


def resolve_media(rt: Runtime, message_id: int, last_attempt: bool) -> Resolved:
    """Resolve the attachment of `message_id` to text; raises MediaRetry for a transient failure."""
    with rt.sessions() as session:
        row = session.execute(_LOAD, {"mid": message_id}).one_or_none()
    if row is None or row.media_status != "pending":
        return Resolved("skipped")
    media: dict[str, Any] = row.media or {}
    try:
        found = _find_text(rt, row, media)
    except DownloadError as exc:
        if exc.transient and not last_attempt:
            raise MediaRetry(str(exc)) from None
        return fail_media(rt, message_id, exc.reason, str(exc))
    except LLMTransientError as exc:
        if not last_attempt:
            raise MediaRetry(str(exc)) from None
        return fail_media(rt, message_id, "model_failed", str(exc))
    except LLMError as exc:
        return fail_media(rt, message_id, "model_failed", str(exc))
    except DocumentError as exc:
        return fail_media(rt, message_id, exc.reason, str(exc))
    if not found.text:
        return fail_media(rt, message_id, "no_speech" if row.kind == "audio" else "empty", "no text in the file")
    with rt.sessions() as session:
        session.execute(_READY, {"mid": message_id, "sha": found.sha256, "kind": row.kind, "text": found.text,
                                 "model": found.model})
    log.info("message %s: %s resolved to %d characters%s", message_id, row.kind, len(found.text),
             " (cached)" if found.cached else "")
    return Resolved("ready", cached=found.cached)


def fail_media(rt: Runtime, message_id: int, reason: str, detail: str = "") -> Resolved:
    """Mark the attachment as impossible to read, with a reason code (see sdr.agent.context)."""
    log.warning("message %s: media not resolved (%s): %s", message_id, reason, detail)
    with rt.sessions() as session:
        session.execute(_FAILED, {"mid": message_id, "reason": reason})
    return Resolved("failed", reason)


@dataclass(frozen=True)
class _Found:
    text: str
    sha256: str
    model: str | None
    cached: bool


def _find_text(rt: Runtime, row: Any, media: dict[str, Any]) -> _Found:
    given = _hex_sha256(media.get("sha256"))
    if given:  # the provider told us the hash: a known file is not even downloaded
        with rt.sessions() as session:
            hit = _cached(session, given, row.kind)
        if hit is not None:
            return _Found(hit, given, None, True)
    source = Source(row.provider, row.channel_ref, row.provider_message_id, media)
    blob = fetch_media(http_session(), rt.settings, source, media_limits(rt))
    with rt.sessions() as session:
        hit = _cached(session, blob.sha256, row.kind)
    if hit is not None:
        return _Found(hit, blob.sha256, None, True)
    mime = media.get("mime") or media.get("mimetype") or blob.mime
    produced, model = _produce(rt, row.kind, blob, mime, media.get("filename"))
    return _Found(cut_text(produced, rt.settings.media.text_limit), blob.sha256, model, False)


def _produce(rt: Runtime, kind: str, blob: Blob, mime: str | None, filename: str | None) -> tuple[str, str | None]:
    config = rt.settings.media
    if kind == "audio":
        return transcribe_audio(rt.llm, config.transcription_model, config.transcription_language, blob.data,
                                mime, filename), config.transcription_model
    if kind == "image":
        return describe_image(rt.llm, config.vision_model, blob.data, mime), config.vision_model
    return extract_text(blob.data, mime, filename, config.pdf_pages), None


def _cached(session: Session, sha256: str, kind: str) -> str | None:
    return session.execute(_CACHED, {"sha": sha256, "kind": kind}).scalar()


def _hex_sha256(value: Any) -> str | None:
    """Providers send the file's sha256 as hex or base64; the cache keys on lowercase hex."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
