"""Twilio Programmable Messaging for WhatsApp: form-encoded webhooks in (messages and status
callbacks on the same URL), the Messages API out.

Addresses carry a `whatsapp:` prefix on the wire (`From=whatsapp:+55…`); anything else (SMS, other
channels) is acknowledged and ignored. Media come as `NumMedia` + `MediaUrlN`/`MediaContentTypeN`:
the first item travels with the message's own id, further items become messages of their own
(`<MessageSid>#<n>`). Twilio gives no provider timestamp for inbound messages.
"""

from __future__ import annotations

from typing import Any, Mapping

from sdr.addresses import AddressError, e164
from sdr.channels.base import (
    ChipRef,
    InboundEvent,
    MediaRef,
    ParsedWebhook,
    PayloadError,
    RateLimitedSendError,
    SendReceipt,
    StatusUpdate,
)
from sdr.channels.content import compact, location_text, media_kind, text_of
from sdr.channels.http import post_form

PROVIDER = "twilio"
PREFIX = "whatsapp:"
# MessageStatus of a status callback -> ours; the others (queued, accepted, sending, ...) say nothing new.
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed", "undelivered": "failed"}
NOT_YET = {"queued", "accepted", "scheduled", "sending", "canceled", "partially_delivered"}
RATE_LIMIT_CODES = {63018, 20429, 63017}  # channel rate limit, API too many requests, account-wide limit
REFERRAL_FIELDS = {"ReferralSourceUrl": "source_url", "ReferralSourceId": "source_id",
                   "ReferralSourceType": "source_type", "ReferralHeadline": "headline", "ReferralBody": "body",
                   "ReferralMediaUrl": "media_url", "ReferralCtwaClid": "ctwa_clid"}


def parse_webhook(params: Mapping[str, str]) -> ParsedWebhook:
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise PayloadError("missing 'MessageSid'")
    result = ParsedWebhook()
    raw_status = (params.get("MessageStatus") or "").lower()
    if raw_status and raw_status not in ("received", "receiving"):
        status = STATUSES.get(raw_status)
        if status is None:
            result.ignored.append(f"status {raw_status}")
        else:
            result.statuses.append(StatusUpdate(provider=PROVIDER, provider_message_id=sid, status=status,
                                                error_code=params.get("ErrorCode") or None,
                                                error_text=params.get("ErrorMessage") or None))
        return result
    sender, receiver = params.get("From", ""), params.get("To", "")
    if not sender.startswith(PREFIX) or not receiver.startswith(PREFIX):
        result.ignored.append("not a WhatsApp message")
        return result
    if (params.get("MessageType") or "").lower() == "reaction":
        result.ignored.append("reaction")
        return result
    try:
        lead, ours = e164(sender[len(PREFIX):]), e164(receiver[len(PREFIX):])
    except AddressError as exc:
        raise PayloadError(f"'From'/'To': {exc}") from None
    result.events.extend(_events(params, sid, lead, ours))
    return result


def _events(params: Mapping[str, str], sid: str, lead: str, ours: str) -> list[InboundEvent]:
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        raise PayloadError("'NumMedia' must be a number") from None
    kind, text, context = _content(params)
    media: list[MediaRef | None] = [None]
    if count > 0:
        media = [MediaRef(mime=params.get(f"MediaContentType{n}"), url=params.get(f"MediaUrl{n}"))
                 for n in range(count)]
        if any(not m.get("url") for m in media):
            raise PayloadError("'MediaUrlN' missing for an announced media item")
    events = []
    for n, ref in enumerate(media):
        item_kind = media_kind(ref.get("mime")) if ref is not None else kind
        if ref is not None and item_kind == "audio":
            ref["voice"] = "ogg" in (ref.get("mime") or "")  # WhatsApp voice notes are ogg/opus
        if ref is not None and text:
            ref["caption"] = text
        events.append(InboundEvent(
            provider=PROVIDER, channel_ref=ours, provider_message_id=sid if n == 0 else f"{sid}#{n}",
            lead_address=lead, kind=item_kind, text=text if n == 0 else None,
            profile_name=text_of(params.get("ProfileName")), media=ref, context=context if n == 0 else None,
        ))
    return events


def _content(params: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any] | None]:
    body = text_of(params.get("Body"))
    context: dict[str, Any] = {"quoted_id": params.get("OriginalRepliedMessageSid")}
    referral = compact({ours: params.get(theirs) for theirs, ours in REFERRAL_FIELDS.items()})
    if referral:
        context["referral"] = referral
    kind = "text"
    if params.get("ButtonPayload") or (params.get("MessageType") or "").lower() == "button":
        kind, body = "button", text_of(params.get("ButtonText")) or body
        context["button_id"] = params.get("ButtonPayload")
    elif params.get("ListId"):
        kind, body = "list", text_of(params.get("ListTitle")) or body
        context["list_id"] = params.get("ListId")
    elif params.get("Latitude") and params.get("Longitude"):
        kind = "location"
        body = location_text(params["Latitude"], params["Longitude"], params.get("Label"), params.get("Address"))
    return kind, body, compact(context)


def whatsapp(address: str) -> str:
    if address.startswith("lid:"):
        raise PayloadError("Twilio addresses WhatsApp users by phone number only")
    return PREFIX + address


class TwilioChannel:
    provider = PROVIDER

    def __init__(self, api_url: str, account_sid: str, auth_token: str, status_callback: str | None,
                 timeout: tuple[float, float]):
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self._status_callback = status_callback
        self._timeout = timeout

    def _send(self, chip: ChipRef, to_address: str, fields: list[tuple[str, str]]) -> SendReceipt:
        form = [("To", whatsapp(to_address)), ("From", PREFIX + chip.external_id), *fields]
        if self._status_callback:
            form.append(("StatusCallback", self._status_callback))
        answer = post_form(self._url, form, self._auth, self._timeout, rate_limit_codes=RATE_LIMIT_CODES)
        sid = answer.get("sid")
        if answer.get("error_code") and int(answer["error_code"]) in RATE_LIMIT_CODES:
            raise RateLimitedSendError(f"Twilio {answer['error_code']}: {answer.get('error_message')}")
        return SendReceipt(provider_message_id=str(sid or ""))

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt:
        return self._send(chip, to_address, [("Body", text)])

    def send_media(self, chip: ChipRef, to_address: str, url: str, mime: str, caption: str | None = None,
                   filename: str | None = None) -> SendReceipt:
        """Twilio fetches `url` itself; the caption travels as the message body."""
        return self._send(chip, to_address, [("MediaUrl", url), *([("Body", caption)] if caption else [])])
