"""Meta WhatsApp Cloud API stand-in: ``POST /{version}/{phone_number_id}/messages`` and status callbacks on demand.

Authentication is ``Authorization: Bearer <token>``: the token given on the command line works for every phone
number id, and ``/_control/config {"tokens": {"<phone_number_id>": "<token>"}}`` adds per-number tokens. Sends
(``text``, ``template``, ``image``/``document``/``audio``/``video`` by ``link``) answer 200 with Meta's
``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``; a read receipt
(``{"status": "read", "message_id", "typing_indicator"?}``) answers ``{"success": true}``. Errors use Meta's
``{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"}, "fbtrace_id"}}`` envelope.

Control, besides the common ``/_control/*``:
- config ``meta_errors``: Meta error codes (or ``{"code", "status"}``) the next sends answer with, in order;
- config ``window_closed``: recipients whose 24-hour window is closed (free-form sends get 131047, templates pass);
- ``GET /_control/sent``: accepted sends in arrival order;
- ``POST /_control/media {"content_base64", "mime_type", "id"?}``: stores a file a lead "sent"; then
  ``GET /{version}/{media_id}`` answers Meta's ``{"url", "mime_type", "sha256", "file_size", "id"}`` and
  ``GET /_media/{media_id}`` (same bearer token) serves the bytes, as Meta's media download does;
- ``POST /_control/status_callback {"url", "app_secret", "message_id", "status", "recipient_id",
  "phone_number_id", "error_code"?}``: POSTs a status webhook body signed with ``X-Hub-Signature-256`` to ``url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from standins.control import Call, Control, add_control_routes
from standins.wsgi import Router, json_response, read_json

DEFAULT_TOKEN = "meta-stand-in-token"
HEADERS = ("Authorization", "Content-Type", "User-Agent")
VERSION = re.compile(r"^v\d+\.\d+$")
TO = re.compile(r"^\+?\d{8,15}$")
MEDIA = ("image", "document", "audio", "video", "sticker")
DETAILS = {
    131047: "More than 24 hours have passed since the recipient last replied to the sender number.",
    130429: "Cloud API message throughput has been reached.",
    131056: "Too many messages sent from the sender phone number to the same recipient phone number "
            "in a short period of time.",
    131026: "Message undeliverable.",
    131000: "Something went wrong.",
    190: "Error validating access token.",
    100: "Invalid parameter.",
}
HTTP_OF = {190: 401, 131000: 500}


def meta_error(code: int, status: int | None = None, details: str | None = None) -> Response:
    text = details or DETAILS.get(code, "Error")
    body = {"error": {"message": f"(#{code}) {text}", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": text},
                      "fbtrace_id": base64.urlsafe_b64encode(hashlib.sha1(str(time.time_ns()).encode()).digest())
                      .decode()[:23]}}
    return json_response(body, status or HTTP_OF.get(code, 400))


def http_error(status: int) -> Response:
    return meta_error(131000 if status >= 500 else 100, status, f"HTTP {status}")


class MetaStandIn:
    config_keys = ("tokens", "meta_errors", "window_closed")

    def __init__(self, control: Control, token: str) -> None:
        self.control = control
        self.token = token
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.media: dict[str, tuple[bytes, str]] = {}
        self.tokens: dict[str, str] = {}
        self.meta_errors: list[dict[str, int]] = []
        self.window_closed: set[str] = set()

    def check_config(self, cfg: dict[str, Any]) -> str | None:
        tokens = cfg.get("tokens", {})
        if not isinstance(tokens, dict) or not all(isinstance(v, str) and v for v in tokens.values()):
            return "tokens must map phone number ids to non-empty tokens"
        errors = cfg.get("meta_errors", [])
        if not isinstance(errors, list) or not all(
                isinstance(e, int) or (isinstance(e, dict) and isinstance(e.get("code"), int)) for e in errors):
            return "meta_errors must be a list of Meta error codes or {\"code\", \"status\"} objects"
        closed = cfg.get("window_closed", [])
        if not isinstance(closed, list) or not all(isinstance(n, str) for n in closed):
            return "window_closed must be a list of numbers (strings)"
        return None

    def apply_config(self, cfg: dict[str, Any]) -> None:
        self.tokens.update(cfg.get("tokens", {}))
        self.meta_errors.extend(e if isinstance(e, dict) else {"code": e} for e in cfg.get("meta_errors", []))
        self.window_closed.update(re.sub(r"\D", "", n) for n in cfg.get("window_closed", []))

    def authorized(self, request: Request, phone_number_id: str) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expected = self.tokens.get(phone_number_id, self.token)
        return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())

    def problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return "messaging_product must be 'whatsapp'"
        if body.get("status") == "read":
            return None if isinstance(body.get("message_id"), str) else "message_id is required"
        to, kind = body.get("to"), body.get("type", "text")
        if not (isinstance(to, str) and TO.match(to)) and not isinstance(body.get("recipient"), str):
            return "to must be a phone number with country code"
        content = body.get(kind)
        if kind == "text" and not (isinstance(content, dict) and isinstance(content.get("body"), str)
                                   and 0 < len(content["body"]) <= 4096):
            return "text.body must be 1 to 4096 characters"
        if kind == "template" and not (isinstance(content, dict) and content.get("name")
                                       and isinstance(content.get("language"), dict)):
            return "template needs a name and a language"
        if kind in MEDIA and not (isinstance(content, dict) and (content.get("link") or content.get("id"))):
            return f"{kind} needs a link or an id"
        if kind not in ("text", "template", *MEDIA):
            return f"unsupported type {kind!r}"
        return None

    def messages(self, request: Request, version: str, phone_number_id: str) -> Response:
        body, problem = read_json(request)
        fields = body if isinstance(body, dict) else {}
        kind = "read" if fields.get("status") == "read" else "send"
        to = str(fields.get("to") or fields.get("recipient") or "")
        extra = {"phone_number_id": phone_number_id, "version": version, "to": to, "type": fields.get("type", "text")}
        rejection = None
        if not self.authorized(request, phone_number_id):
            rejection = meta_error(190)
        elif not VERSION.match(version) or (problem or self.problem(body)):
            rejection = meta_error(100, 400, problem or self.problem(body) or f"unknown version {version}")
        elif kind == "send" and self.meta_errors:
            error = self.meta_errors.pop(0)
            rejection = meta_error(error["code"], error.get("status"))
        elif kind == "send" and extra["type"] != "template" and re.sub(r"\D", "", to) in self.window_closed:
            rejection = meta_error(131047)
        call = Call(kind, request, body, extra, rejection)

        def produce(script: dict[str, Any] | None) -> Response:
            if kind == "read":
                return json_response({"success": True})
            message_id = self.wamid(phone_number_id, to)
            if call.entry is not None:
                content = fields.get(extra["type"]) or {}
                call.entry.update(message_id=message_id, text=content.get("body") or content.get("caption"),
                                  template=content.get("name") if extra["type"] == "template" else None,
                                  link=content.get("link"))
            return json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": to, "wa_id": re.sub(r"\D", "", to)}],
                                  "messages": [{"id": message_id}]})

        return self.control.serve(call, http_error, produce)

    def wamid(self, phone_number_id: str, to: str) -> str:
        seed = f"{next(self._ids)}:{phone_number_id}:{to}:{time.time_ns()}".encode()
        return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + hashlib.sha1(seed).digest()).decode()

    def sent(self, request: Request) -> Response:
        keys = ("seq", "time", "phone_number_id", "to", "type", "text", "template", "link", "message_id")
        return json_response([{k: r.get(k) for k in keys} for r in self.control.records
                              if r["kind"] == "send" and r["status"] == 200])

    def add_media(self, request: Request) -> Response:
        cfg, problem = read_json(request)
        try:
            content = base64.b64decode(cfg["content_base64"], validate=True)
            mime = str(cfg["mime_type"])
        except (TypeError, KeyError, ValueError):
            return json_response({"ok": False, "error": problem or "needs content_base64 and mime_type"}, 400)
        media_id = str(cfg.get("id") or 1_000_000_000_000 + len(self.media) + 1)
        self.media[media_id] = (content, mime)
        return json_response({"ok": True, "id": media_id})

    def media_info(self, request: Request, version: str, media_id: str) -> Response:
        if not VERSION.match(version):
            return meta_error(100, 400, f"unknown path /{version}/{media_id}")
        if not self.authorized(request, ""):
            return meta_error(190)
        if media_id not in self.media:
            return meta_error(100, 400, f"Unsupported get request. Object with ID '{media_id}' does not exist")
        content, mime = self.media[media_id]
        url = f"{request.host_url.rstrip('/')}/_media/{media_id}"
        return json_response({"messaging_product": "whatsapp", "url": url, "mime_type": mime, "id": media_id,
                              "sha256": hashlib.sha256(content).hexdigest(), "file_size": len(content)})

    def media_download(self, request: Request, media_id: str) -> Response:
        if not self.authorized(request, ""):
            return meta_error(190)
        if media_id not in self.media:
            return json_response({"error": "not found"}, 404)
        content, mime = self.media[media_id]
        return Response(content, status=200, content_type=mime)

    def status_callback(self, request: Request) -> Response:
        cfg, problem = read_json(request)
        needed = ("url", "app_secret", "message_id", "status", "recipient_id", "phone_number_id")
        if problem or not isinstance(cfg, dict) or not all(isinstance(cfg.get(k), str) for k in needed):
            return json_response({"ok": False, "error": problem or f"needs string fields {list(needed)}"}, 400)
        status: dict[str, Any] = {"id": cfg["message_id"], "status": cfg["status"],
                                  "timestamp": str(int(time.time())), "recipient_id": cfg["recipient_id"]}
        if cfg.get("error_code") is not None:
            code = int(cfg["error_code"])
            status["errors"] = [{"code": code, "title": DETAILS.get(code, "Error"), "message": DETAILS.get(code, ""),
                                 "error_data": {"details": DETAILS.get(code, "Error")}}]
        body = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
                "display_phone_number": "15550783881", "phone_number_id": cfg["phone_number_id"]},
                "statuses": [status]}}]}]}
        raw = json.dumps(body, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(cfg["app_secret"].encode(), raw, hashlib.sha256).hexdigest()
        try:
            answer = requests.post(cfg["url"], data=raw, timeout=10, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        except requests.RequestException as exc:
            return json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 502)
        return json_response({"ok": True, "status_code": answer.status_code, "body": body})


def build_app(latency: float, token: str | None, max_records: int) -> Callable[..., Any]:
    control = Control("meta", ("send", "read"), latency, HEADERS, max_records)
    stand_in = MetaStandIn(control, token or DEFAULT_TOKEN)
    control.extension = stand_in
    control.reset_hooks.append(stand_in.reset)
    router = Router()
    add_control_routes(router, control)
    router.add("GET", "/_control/sent", stand_in.sent)
    router.add("POST", "/_control/status_callback", stand_in.status_callback)
    router.add("POST", "/_control/media", stand_in.add_media)
    router.add("GET", "/_media/{media_id}", stand_in.media_download)
    router.add("GET", "/{version}/{media_id}", stand_in.media_info)
    router.add("POST", "/{version}/{phone_number_id}/messages", stand_in.messages)
    return router
