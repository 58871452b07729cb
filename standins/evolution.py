"""Evolution API v2 stand-in: ``POST /message/sendText/{instance}``, ``POST /message/sendMedia/{instance}`` (media
by URL) and ``POST /message/sendPresence/{instance}``.

Authentication is the ``apikey`` header (the global key given on the command line). Successful sends answer
HTTP 201 with the v2 message object (``key.remoteJid``/``fromMe``/``id`` = ``3EB0`` + 36 hex digits,
``status: PENDING``, ``message.conversation``…); numbers configured as "not on WhatsApp" get Evolution's 400 with
``[{"exists": false, "jid", "number"}]``. Error bodies use Evolution's ``{"status", "error", "response":
{"message"}}`` envelope. ``GET /_control/sent`` lists successful sends in arrival order. The ``delay`` (ms) of
a request is recorded; it is slept only when ``honour_delay`` is configured, since the real provider's typing
delay would otherwise dominate benchmark timings.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import gevent
from werkzeug.wrappers import Request, Response

from standins.control import Call, Control, add_control_routes
from standins.wsgi import Router, json_response, read_json

DEFAULT_API_KEY = "evolution-stand-in-key"
HEADERS = ("apikey", "Content-Type", "User-Agent")
NUMBER = re.compile(r"^\+?\d{6,20}$")
JID = re.compile(r"^[\w.\-:]+@(s\.whatsapp\.net|g\.us|lid|c\.us)$")
PRESENCES = ("available", "unavailable", "composing", "recording", "paused")
MAX_DELAY_MS = 20_000
MEDIA_TYPES = ("image", "video", "audio", "document")


def error_body(status: int, message: Any = None) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if message is None:
        message = [phrase] if status == 400 else phrase
    return json_response({"status": status, "error": phrase, "response": {"message": message}}, status)


def remote_jid(number: str) -> str:
    return number if "@" in number else number.lstrip("+") + "@s.whatsapp.net"


def digits_of(number: str) -> str:
    return re.sub(r"\D", "", number.split("@", 1)[0])


class EvolutionStandIn:
    config_keys = ("not_on_whatsapp", "honour_delay")

    def __init__(self, control: Control, api_key: str) -> None:
        self.control = control
        self.api_key = api_key
        self.not_on_whatsapp: set[str] = set()
        self.honour_delay = False
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.not_on_whatsapp.clear()
        self.honour_delay = False

    def check_config(self, cfg: dict[str, Any]) -> str | None:
        numbers = cfg.get("not_on_whatsapp", [])
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return "not_on_whatsapp must be a list of numbers (strings)"
        if not isinstance(cfg.get("honour_delay", False), bool):
            return "honour_delay must be a boolean"
        return None

    def apply_config(self, cfg: dict[str, Any]) -> None:
        self.not_on_whatsapp.update(digits_of(n) for n in cfg.get("not_on_whatsapp", []))
        self.honour_delay = cfg.get("honour_delay", self.honour_delay)

    def check(self, request: Request, body: Any, problem: str | None, required: tuple[str, ...]) -> Response | None:
        if request.headers.get("apikey") != self.api_key:
            return error_body(401, "Unauthorized")
        if problem is not None or not isinstance(body, dict):
            return error_body(400, [problem or "body must be a JSON object"])
        messages = [f'instance requires property "{k}"' for k in required if k not in body]
        number = body.get("number")
        if "number" in body and (not isinstance(number, str) or not (NUMBER.match(number) or JID.match(number))):
            messages.append("number must be a phone number (digits) or a WhatsApp jid")
        if "text" in required and "text" in body and (not isinstance(body["text"], str) or not body["text"].strip()):
            messages.append("text must be a non-empty string")
        if "presence" in required and body.get("presence", PRESENCES[0]) not in PRESENCES:
            messages.append(f"presence must be one of {list(PRESENCES)}")
        return error_body(400, messages) if messages else None

    def pause_for(self, body: dict[str, Any]) -> None:
        delay = body.get("delay")
        if self.honour_delay and isinstance(delay, (int, float)) and delay > 0:
            gevent.sleep(min(delay, MAX_DELAY_MS) / 1000)

    def send_text(self, request: Request, instance: str) -> Response:
        body, problem = read_json(request)
        fields = body if isinstance(body, dict) else {}
        extra = {"instance": instance, "number": fields.get("number"), "text": fields.get("text"),
                 "delay": fields.get("delay")}
        rejection = self.check(request, body, problem, ("number", "text"))
        if rejection is None and digits_of(body["number"]) in self.not_on_whatsapp:
            number = body["number"]
            rejection = error_body(400, [{"exists": False, "jid": remote_jid(number), "number": number}])
        call = Call("sendText", request, body, extra, rejection)

        def produce(script: dict[str, Any] | None) -> Response:
            self.pause_for(body)
            message = self.message(instance, body["number"], body["text"])
            if call.entry is not None:
                call.entry["message_id"] = message["key"]["id"]
                call.entry["remoteJid"] = message["key"]["remoteJid"]
            return json_response(message, 201)

        return self.control.serve(call, error_body, produce)

    def message(self, instance: str, number: str, text: str) -> dict[str, Any]:
        seed = f"{next(self._ids)}:{instance}:{number}:{text}:{time.time_ns()}"
        message_id = "3EB0" + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:36].upper()
        return {"key": {"remoteJid": remote_jid(number), "fromMe": True, "id": message_id},
                "pushName": "Você", "status": "PENDING", "message": {"conversation": text},
                "messageType": "conversation", "messageTimestamp": int(time.time()),
                "instanceId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"evolution-instance:{instance}")),
                "source": "unknown"}

    def send_media(self, request: Request, instance: str) -> Response:
        body, problem = read_json(request)
        fields = body if isinstance(body, dict) else {}
        extra = {"instance": instance, "number": fields.get("number"), "media": fields.get("media"),
                 "mediatype": fields.get("mediatype"), "caption": fields.get("caption")}
        rejection = self.check(request, body, problem, ("number", "mediatype", "media"))
        if rejection is None and (body["mediatype"] not in MEDIA_TYPES or not isinstance(body["media"], str)
                                  or not body["media"].strip()):
            rejection = error_body(400, [f"mediatype must be one of {list(MEDIA_TYPES)} and media a URL or base64"])
        call = Call("sendMedia", request, body, extra, rejection)

        def produce(script: dict[str, Any] | None) -> Response:
            message = self.message(instance, body["number"], body.get("caption") or "")
            kind = f"{body['mediatype']}Message"
            message["message"] = {kind: {"url": body["media"], "mimetype": body.get("mimetype"),
                                         "caption": body.get("caption")}}
            message["messageType"] = kind
            if call.entry is not None:
                call.entry["message_id"] = message["key"]["id"]
            return json_response(message, 201)

        return self.control.serve(call, error_body, produce)

    def send_presence(self, request: Request, instance: str) -> Response:
        body, problem = read_json(request)
        fields = body if isinstance(body, dict) else {}
        extra = {"instance": instance, "number": fields.get("number"), "presence": fields.get("presence"),
                 "delay": fields.get("delay")}
        rejection = self.check(request, body, problem, ("number", "presence"))

        def produce(script: dict[str, Any] | None) -> Response:
            self.pause_for(body)
            return json_response({}, 201)

        return self.control.serve(Call("presence", request, body, extra, rejection), error_body, produce)

    def sent(self, request: Request) -> Response:
        keys = ("seq", "time", "instance", "number", "text", "message_id", "remoteJid")
        sends = [{k: r.get(k) for k in keys} for r in self.control.records
                 if r["kind"] == "sendText" and r["status"] == 201]
        return json_response(sends)


def build_app(latency: float, api_key: str | None, max_records: int) -> Callable[..., Any]:
    control = Control("evolution", ("sendText", "sendMedia", "presence"), latency, HEADERS, max_records)
    stand_in = EvolutionStandIn(control, api_key or DEFAULT_API_KEY)
    control.extension = stand_in
    control.reset_hooks.append(stand_in.reset)
    router = Router()
    add_control_routes(router, control)
    router.add("GET", "/_control/sent", stand_in.sent)
    router.add("POST", "/message/sendText/{instance}", stand_in.send_text)
    router.add("POST", "/message/sendMedia/{instance}", stand_in.send_media)
    router.add("POST", "/message/sendPresence/{instance}", stand_in.send_presence)
    return router
