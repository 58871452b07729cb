"""Z-API stand-in: ``POST /instances/{id}/token/{token}/send-text`` (and ``send-image``, ``send-audio``,
``send-video``, ``send-document/{extension}``), header ``Client-Token``.

The instance token is the ``--api-key`` given on the command line (any instance id is accepted);
the account security token is :data:`DEFAULT_CLIENT_TOKEN` unless ``/_control/config`` sets
``client_token``. Successful sends answer 200 ``{"zaapId", "messageId", "id"}``; errors answer Z-API's
``{"error": ...}`` (a missing Client-Token is ``"null not allowed"``). ``GET /_control/sent`` lists
successful sends; ``POST /_control/status_callback`` ``{"url", "ids": [...], "status": "READ", "phone"}``
makes the stand-in POST a ``MessageStatusCallback`` to ``url``.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from standins import callbacks
from standins.control import Call, Control, add_control_routes
from standins.wsgi import Router, json_response, read_json

DEFAULT_TOKEN = "zapi-stand-in-token"
DEFAULT_CLIENT_TOKEN = "zapi-stand-in-client-token"
HEADERS = ("Client-Token", "Content-Type", "User-Agent")
PHONE = re.compile(r"^(\d{8,15}|\d{6,20}@lid|[\d-]+-group)$")
MEDIA_FIELDS = {"send-image": "image", "send-audio": "audio", "send-video": "video"}
STATUSES = ("SENT", "RECEIVED", "READ", "READ_BY_ME", "PLAYED")


def error_body(status: int, message: str | None = None) -> Response:
    return json_response({"error": message or {400: "bad request", 401: "unauthorized", 404: "not found",
                                                 429: "too many requests"}.get(status, "internal error")}, status)


class ZapiStandIn:
    config_keys = ("client_token",)

    def __init__(self, control: Control, token: str) -> None:
        self.control = control
        self.token = token
        self.client_token = DEFAULT_CLIENT_TOKEN
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.client_token = DEFAULT_CLIENT_TOKEN

    def check_config(self, cfg: dict[str, Any]) -> str | None:
        token = cfg.get("client_token", "")
        return None if isinstance(token, str) else "client_token must be a string ('' accepts any)"

    def apply_config(self, cfg: dict[str, Any]) -> None:
        self.client_token = cfg.get("client_token", self.client_token)

    def _reject(self, request: Request, token: str, body: Any, problem: str | None, field: str) -> Response | None:
        if token != self.token:
            return error_body(404, "Instance not found")
        if self.client_token and request.headers.get("Client-Token") != self.client_token:
            return error_body(400, "null not allowed" if "Client-Token" not in request.headers
                              else "Client-Token is not allowed")
        if problem is not None or not isinstance(body, dict):
            return error_body(400, problem or "body must be a JSON object")
        phone, value = body.get("phone"), body.get(field)
        if not isinstance(phone, str) or not PHONE.match(phone):
            return error_body(400, "phone must be digits only (or a group/lid id)")
        if not isinstance(value, str) or not value.strip():
            return error_body(400, f"{field} is required")
        delay = body.get("delayTyping")
        if delay is not None and (not isinstance(delay, int) or not 1 <= delay <= 15):
            return error_body(400, "delayTyping must be an integer from 1 to 15")
        return None

    def send(self, request: Request, instance: str, token: str, endpoint: str, extension: str = "") -> Response:
        field = "message" if endpoint == "send-text" else MEDIA_FIELDS.get(endpoint, "document")
        body, problem = read_json(request)
        fields = body if isinstance(body, dict) else {}
        extra = {"instance": instance, "endpoint": endpoint, "extension": extension or None,
                 "phone": fields.get("phone"), "message": fields.get("message"), "media": None if
                 field == "message" else fields.get(field), "caption": fields.get("caption"),
                 "delayTyping": fields.get("delayTyping")}
        call = Call(endpoint.replace("-", "_") if endpoint == "send-text" else "send_media", request, body, extra,
                    self._reject(request, token, body, problem, field))

        def produce(script: dict[str, Any] | None) -> Response:
            seed = f"{next(self._ids)}:{instance}:{time.time_ns()}"
            message_id = "3EB0" + uuid.uuid5(uuid.NAMESPACE_OID, seed).hex[:18].upper()
            zaap_id = uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:32].upper()
            if call.entry is not None:
                call.entry["message_id"] = message_id
            return json_response({"zaapId": zaap_id, "messageId": message_id, "id": message_id})

        return self.control.serve(call, error_body, produce)

    def sent(self, request: Request) -> Response:
        keys = ("seq", "time", "instance", "endpoint", "phone", "message", "media", "caption", "delayTyping",
                "message_id")
        return json_response([{k: r.get(k) for k in keys} for r in self.control.records
                              if r["kind"] in ("send_text", "send_media") and r["status"] == 200])

    def status_callback(self, request: Request) -> Response:
        body, problem = read_json(request)
        if problem or not isinstance(body, dict):
            return callbacks.bad_request(problem or "body must be a JSON object")
        url, ids, status = body.get("url"), body.get("ids"), body.get("status", "RECEIVED")
        if not isinstance(url, str) or not isinstance(ids, list) or status not in STATUSES:
            return callbacks.bad_request(f"need url, ids (list) and status in {list(STATUSES)}")
        payload = {"status": status, "ids": ids, "momment": int(time.time() * 1000), "phone": body.get("phone", ""),
                   "type": "MessageStatusCallback", "instanceId": body.get("instance", ""), "isGroup": False}
        return callbacks.deliver(url, json=payload)


def build_app(latency: float, api_key: str | None, max_records: int) -> Callable[..., Any]:
    control = Control("zapi", ("send_text", "send_media"), latency, HEADERS, max_records)
    stand_in = ZapiStandIn(control, api_key or DEFAULT_TOKEN)
    control.extension = stand_in
    control.reset_hooks.append(stand_in.reset)
    router = Router()
    add_control_routes(router, control)
    router.add("GET", "/_control/sent", stand_in.sent)
    router.add("POST", "/_control/status_callback", stand_in.status_callback)
    for endpoint in ("send-text", *MEDIA_FIELDS):
        router.add("POST", f"/instances/{{instance}}/token/{{token}}/{endpoint}",
                   lambda request, instance, token, _e=endpoint: stand_in.send(request, instance, token, _e))
    router.add("POST", "/instances/{instance}/token/{token}/send-document/{extension}",
               lambda request, instance, token, extension: stand_in.send(request, instance, token, "send-document",
                                                                         extension))
    return router
