"""Meta Cloud API webhook bodies (the reference notes' examples and variants) and their signatures."""

from __future__ import annotations

import copy
import itertools
import json
import time
from typing import Any

from sdr.meta_signature import sign_body

APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token-for-tests"
ACCESS_TOKEN = "meta-access-token-for-tests"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"

_ids = itertools.count(1)

# A2, verbatim: the official inbound text example.
TEXT_BODY: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [{"id": WABA_ID, "changes": [{"value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                      "timestamp": "1749416383", "type": "text",
                      "text": {"body": "Does it come in another color?"}}]},
        "field": "messages"}]}],
}
# A8: the same body compacted to exactly 499 bytes, and its official-notes signature.
VECTOR_SECRET = "test_app_secret"
VECTOR_BODY = json.dumps(TEXT_BODY, separators=(",", ":")).encode()
VECTOR_SIGNATURE = "sha256=ded1d1d9621cffa39832ccf2b330fa476b4dc8ec2a5d102e1e554312b3f21d42"

AUDIO = {"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
         "timestamp": "1744344496", "type": "audio",
         "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
                   "id": "1908647269898587",
                   "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...", "voice": True}}
IMAGE = {"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
         "timestamp": "1744344496", "type": "image",
         "image": {"caption": "Taj Mahal", "mime_type": "image/jpeg",
                   "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=", "id": "1003383421387256",
                   "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."}}
BUTTON_REPLY = {"context": {"from": "15550783881", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"},
                "from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
                "timestamp": "1750025136", "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "cancel-button", "title": "Cancel"}}}
LIST_REPLY = {"from": "16505551234", "id": "wamid.list1", "timestamp": "1749854575", "type": "interactive",
              "interactive": {"type": "list_reply", "list_reply": {
                  "id": "priority_express", "title": "Priority Mail Express", "description": "Next Day to 2 Days"}}}
STATUS_SENT = {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "status": "sent",
               "timestamp": "1750030073", "recipient_id": "16505551234",
               "conversation": {"id": "72b14d6bd5407799e66f64d1b338e567", "expiration_timestamp": "1750116480",
                                "origin": {"type": "marketing"}},
               "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}}
STATUS_DELIVERED = {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA", "status": "delivered",
                    "timestamp": "1750263773", "recipient_id": "16505551234",
                    "conversation": {"id": "6ceb9d929c9bdc4f90e967a32f8639b4", "origin": {"type": "service"}},
                    "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"}}
STATUS_READ = {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "status": "read",
               "timestamp": "1750030073", "recipient_id": "16505551234"}
STATUS_FAILED = {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", "status": "failed",
                 "timestamp": "1751142888", "recipient_id": "16505551234",
                 "errors": [{"code": 131049,
                             "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                             "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                             "error_data": {"details": "In order to maintain a healthy ecosystem engagement, "
                                                       "the message failed to be delivered."},
                             "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]}
STATUS_REENGAGEMENT = {**STATUS_FAILED, "errors": [{
    "code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
    "error_data": {"details": "More than 24 hours have passed since the recipient last replied "
                              "to the sender number."}}]}


def wamid() -> str:
    return f"wamid.TEST{next(_ids):020d}{int(time.time() * 1000)}"


def envelope(messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
             *, phone_number_id: str = PHONE_NUMBER_ID, contacts: list[dict[str, Any]] | None = None,
             errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One entry with one `messages` change carrying the given items."""
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id}}
    if messages is not None:
        value["contacts"] = contacts if contacts is not None else [
            {"profile": {"name": "Sheena Nelson"}, "wa_id": m["from"]} for m in messages if "from" in m][:1]
        value["messages"] = copy.deepcopy(messages)
    if statuses is not None:
        value["statuses"] = copy.deepcopy(statuses)
    if errors is not None:
        value["errors"] = errors
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}]}


def text_message(phone_e164: str, text: str, *, msg_id: str | None = None, name: str = "Maria",
                 phone_number_id: str = PHONE_NUMBER_ID, **extra: Any) -> dict[str, Any]:
    """A full webhook body: one text message from `phone_e164` to our number `phone_number_id`."""
    digits = phone_e164.lstrip("+")
    message = {"from": digits, "id": msg_id or wamid(), "timestamp": str(int(time.time())), "type": "text",
               "text": {"body": text}, **extra}
    return envelope([message], phone_number_id=phone_number_id,
                    contacts=[{"profile": {"name": name}, "wa_id": digits}])


def signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """(raw bytes, headers) as Meta would POST them."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=True).encode()
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sign_body(secret, raw)}


def meta_env(graph_url: str, **extra: str) -> dict[str, str]:
    """The environment variables that configure Meta against the stand-in at `graph_url`."""
    return {"META_GRAPH_URL": graph_url, "META_ACCESS_TOKEN": ACCESS_TOKEN, "META_APP_SECRET": APP_SECRET,
            "META_VERIFY_TOKEN": VERIFY_TOKEN, "META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "SDR_META_TEMPLATE_NAME": "retomar_conversa", **extra}
