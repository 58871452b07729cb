"""Twilio Messages API stand-in: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` for WhatsApp.

Form-encoded, HTTP basic auth ``AccountSid:AuthToken`` (the auth token is ``--api-key``; any
``AC…`` account sid is accepted). ``To``/``From`` need the ``whatsapp:+E164`` form, and one of
``Body`` / ``MediaUrl`` is required. Successes answer 201 with the Message resource
(``sid`` = ``SM`` + 32 hex, ``status: queued``); errors use Twilio's ``{"code", "message",
"more_info", "status"}`` (an injected 429 carries code 63018, the WhatsApp channel rate limit).
``GET /_control/sent`` lists accepted messages; ``POST /_control/status_callback``
``{"sid", "status", "error_code", "url"}`` POSTs a status callback for a sent message to ``url``
(default: the message's own ``StatusCallback``), form-encoded and signed with
``X-Twilio-Signature`` exactly as Twilio does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from werkzeug.wrappers import Request, Response

from standins import callbacks
from standins.control import Call, Control, add_control_routes
from standins.wsgi import Router, json_response, read_json

DEFAULT_AUTH_TOKEN = "twilio-stand-in-token"
HEADERS = ("Authorization", "Content-Type", "User-Agent")
WHATSAPP = re.compile(r"^whatsapp:\+\d{8,15}$")
STATUSES = ("sent", "delivered", "read", "failed", "undelivered")
CODES = {400: 21211, 401: 20003, 404: 20404, 429: 63018}


def error_body(status: int, message: str | None = None, code: int | None = None) -> Response:
    code = code or CODES.get(status, 20500)
    return json_response({"code": code, "message": message or f"HTTP {status}",
                          "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}, status)


def signature(auth_token: str, url: str, form: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted name+value pairs, base64."""
    payload = url + "".join(name + value for name, value in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class TwilioStandIn:
    config_keys: tuple[str, ...] = ()

    def __init__(self, control: Control, auth_token: str) -> None:
        self.control = control
        self.auth_token = auth_token
        self._ids = itertools.count(1)
        self.messages: dict[str, dict[str, Any]] = {}
        control.reset_hooks.append(self.messages.clear)

    def check_config(self, cfg: dict[str, Any]) -> str | None:
        return None

    def apply_config(self, cfg: dict[str, Any]) -> None:
        return None

    def _reject(self, request: Request, account: str) -> Response | None:
        auth = request.authorization
        if auth is None or auth.username != account or auth.password != self.auth_token:
            return error_body(401, "Authenticate")
        form = request.form
        for name in ("To", "From"):
            if not WHATSAPP.match(form.get(name, "")):
                return error_body(400, f"Invalid '{name}' Phone Number: expected whatsapp:+E164", 21211)
        if not form.get("Body") and not form.getlist("MediaUrl"):
            return error_body(400, "A text message body or media urls must be specified.", 21619)
        return None

    def create(self, request: Request, account: str) -> Response:
        form = request.form
        extra = {"account": account, "to": form.get("To"), "from": form.get("From"), "text": form.get("Body"),
                 "media": form.getlist("MediaUrl"), "status_callback": form.get("StatusCallback")}
        call = Call("send", request, form.to_dict(flat=False), extra, self._reject(request, account))

        def produce(script: dict[str, Any] | None) -> Response:
            sid = "SM" + hashlib.md5(f"{next(self._ids)}:{time.time_ns()}:{uuid.uuid4()}".encode()).hexdigest()
            now = formatdate(usegmt=True).replace("GMT", "+0000")
            resource = {
                "account_sid": account, "api_version": "2010-04-01", "body": form.get("Body", ""),
                "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
                "error_code": None, "error_message": None, "from": form["From"], "messaging_service_sid": None,
                "num_media": str(len(form.getlist("MediaUrl"))), "num_segments": "1", "price": None,
                "price_unit": "USD", "sid": sid, "status": "queued", "to": form["To"],
                "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
                "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
            }
            if call.entry is not None:
                call.entry["sid"] = sid
            self.messages[sid] = {"account": account, "to": form["To"], "from": form["From"],
                                  "status_callback": form.get("StatusCallback")}
            return json_response(resource, 201)

        return self.control.serve(call, error_body, produce)

    def sent(self, request: Request) -> Response:
        keys = ("seq", "time", "account", "to", "from", "text", "media", "status_callback", "sid")
        return json_response([{k: r.get(k) for k in keys} for r in self.control.records
                              if r["kind"] == "send" and r["status"] == 201])

    def status_callback(self, request: Request) -> Response:
        body, problem = read_json(request)
        if problem or not isinstance(body, dict):
            return callbacks.bad_request(problem or "body must be a JSON object")
        message = self.messages.get(body.get("sid", ""))
        status = body.get("status")
        if message is None or status not in STATUSES:
            return callbacks.bad_request(f"need the sid of a sent message and status in {list(STATUSES)}")
        url = body.get("url") or message["status_callback"]
        if not url:
            return callbacks.bad_request("the message had no StatusCallback; give a url")
        form = [("SmsSid", body["sid"]), ("SmsStatus", status), ("MessageStatus", status),
                ("ChannelToAddress", message["to"].removeprefix("whatsapp:")), ("To", message["to"]),
                ("ChannelPrefix", "whatsapp"), ("MessageSid", body["sid"]), ("AccountSid", message["account"]),
                ("From", message["from"]), ("ApiVersion", "2010-04-01")]
        if status == "read":
            form.insert(0, ("EventType", "READ"))
        if body.get("error_code"):
            form += [("ErrorCode", str(body["error_code"])), ("ErrorMessage", str(body.get("error_message", "")))]
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, form)}
        return callbacks.deliver(url, form=form, headers=headers)


def build_app(latency: float, api_key: str | None, max_records: int) -> Callable[..., Any]:
    control = Control("twilio", ("send",), latency, HEADERS, max_records)
    stand_in = TwilioStandIn(control, api_key or DEFAULT_AUTH_TOKEN)
    control.extension = stand_in
    router = Router()
    add_control_routes(router, control)
    router.add("GET", "/_control/sent", stand_in.sent)
    router.add("POST", "/_control/status_callback", stand_in.status_callback)
    router.add("POST", "/2010-04-01/Accounts/{account}/Messages.json", stand_in.create)
    return router
