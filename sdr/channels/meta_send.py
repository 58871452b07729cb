"""Sending through Meta's Graph API: text, media by link, templates, read receipts with typing.

`POST {graph}/{version}/{phone_number_id}/messages` with the chip's bearer token, over the
process's pooled session. Errors are classified by Meta's `error.code`, never by its wording:
- 130429 (throughput), 131056 (pair rate), 4 / 80007 (API limits) and HTTP 429: rate limited,
  retried later with jitter;
- 131047 (more than 24 h since the lead wrote) and 63016: the configured template goes instead;
- 131000 / 131016 / 1 / 2, any 5xx and unreachable servers: transient, retried;
- any other 4xx: permanent, recorded and not retried.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import requests

from sdr.addresses import scrub
from sdr.channels.base import (
    ChipRef,
    PermanentSendError,
    RateLimitedSendError,
    SendReceipt,
    TransientSendError,
)
from sdr.channels.http import AmbiguousSendError, get_session
from sdr.channels.meta import PROVIDER
from sdr.settings import ConfigError, MetaConfig

RATE_LIMITED = {130429, 131056, 4, 80007, 131057}
OUTSIDE_WINDOW = {131047, 63016}
TRANSIENT = {131000, 131016, 1, 2}
MEDIA_TYPES = ("image", "document", "audio", "video")

log = logging.getLogger(__name__)


class OutsideWindowError(PermanentSendError):
    """Meta refused free text because the lead's 24-hour window is closed."""


class MetaChannel:
    provider = PROVIDER

    def __init__(self, config: MetaConfig, secret: Callable[[str], str], timeout: tuple[float, float]):
        self._config = config
        self._secret = secret  # resolves a chip's credentials reference to its token
        self._timeout = timeout

    # -- the Channel protocol and the 24-hour window ------------------------------------------------

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt:
        """Free text; if Meta answers that the window is closed, the configured template instead."""
        try:
            return self._send(chip, to_address, {"type": "text", "text": {"body": text, "preview_url": False}})
        except OutsideWindowError:
            log.info("chip %s: window closed for a free-text send; sending the template", chip.id)
            return self.send_template(chip, to_address)

    def send_outside_window(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt:
        """What goes out when the conversation's 24-hour window is known to be closed."""
        return self.send_template(chip, to_address)

    def send_template(self, chip: ChipRef, to_address: str, name: str | None = None,
                      language: str | None = None, parameters: list[str] | None = None) -> SendReceipt:
        name = name or self._config.template_name
        if not name:
            raise PermanentSendError("outside the 24-hour window and SDR_META_TEMPLATE_NAME is not set")
        template: dict[str, Any] = {"name": name, "language": {"code": language or self._config.template_language}}
        if parameters:
            template["components"] = [{"type": "body",
                                       "parameters": [{"type": "text", "text": p} for p in parameters]}]
        receipt = self._send(chip, to_address, {"type": "template", "template": template})
        return SendReceipt(receipt.provider_message_id, template=name)

    # -- extras the Cloud API offers ----------------------------------------------------------------

    def send_media(self, chip: ChipRef, to_address: str, kind: str, link: str, caption: str | None = None,
                   filename: str | None = None) -> SendReceipt:
        if kind not in MEDIA_TYPES:
            raise ValueError(f"media kind must be one of {MEDIA_TYPES}")
        media: dict[str, Any] = {"link": link}
        if caption and kind != "audio":
            media["caption"] = caption
        if filename and kind == "document":
            media["filename"] = filename
        return self._send(chip, to_address, {"type": kind, kind: media})

    def mark_read(self, chip: ChipRef, message_id: str, typing: bool = False) -> None:
        """Blue ticks on the lead's message and, with `typing`, the typing indicator (up to 25 s)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self._post(chip, body)

    # -- the wire -----------------------------------------------------------------------------------

    def _send(self, chip: ChipRef, to_address: str, content: dict[str, Any]) -> SendReceipt:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **_recipient(to_address), **content}
        answer = self._post(chip, body)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        if not first.get("id"):
            raise AmbiguousSendError("Meta accepted the request without a message id")
        return SendReceipt(provider_message_id=str(first["id"]))

    def _post(self, chip: ChipRef, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._config.graph_url}/{self._config.api_version}/{chip.external_id}/messages"
        try:
            response = get_session().post(url, json=body, headers={"Authorization": f"Bearer {self._token(chip)}"},
                                          timeout=self._timeout)
        except requests.ConnectionError as exc:  # includes ConnectTimeout: nothing reached Meta
            raise TransientSendError(f"Meta unreachable: {type(exc).__name__}") from None
        except requests.ReadTimeout:
            raise AmbiguousSendError("Meta did not answer in time; delivery unknown") from None
        if response.status_code < 400:
            try:
                answer = response.json()
            except ValueError:
                raise AmbiguousSendError(f"Meta answered {response.status_code} without JSON") from None
            return answer if isinstance(answer, dict) else {}
        raise classify(response)

    def _token(self, chip: ChipRef) -> str:
        if not chip.credentials_ref:
            return self._config.access_token
        try:
            return self._secret(chip.credentials_ref)
        except ConfigError as exc:  # a chip row naming a missing secret: recorded on the turn, not retried
            raise PermanentSendError(str(exc)) from None


def classify(response: requests.Response) -> Exception:
    """The send error for a Graph API error answer."""
    code, details = _error_of(response)
    message = scrub(f"HTTP {response.status_code}, Meta error {code}: {details}")[:300]
    if response.status_code == 429 or code in RATE_LIMITED:
        return RateLimitedSendError(message, response.status_code, retry_after=_retry_after(response))
    if code in OUTSIDE_WINDOW:
        return OutsideWindowError(message, response.status_code)
    if response.status_code >= 500 or code in TRANSIENT:
        return TransientSendError(message, response.status_code)
    return PermanentSendError(message, response.status_code)


def _error_of(response: requests.Response) -> tuple[int | None, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None, response.text[:200]
    data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
    code = error.get("code")
    return (code if isinstance(code, int) else None), str(data.get("details") or error.get("message") or "")


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _recipient(address: str) -> dict[str, str]:
    if address.startswith("meta:"):  # a business-scoped user id: no phone number to send to
        return {"recipient": address[5:]}
    return {"to": address}
