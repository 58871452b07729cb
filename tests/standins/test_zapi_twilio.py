"""The Z-API and Twilio stand-ins: their send APIs, and status callbacks on demand in the real
formats (Twilio's signed like Twilio signs them)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from sdr.channels.twilio import parse_webhook as parse_twilio
from sdr.channels.zapi import parse_webhook as parse_zapi
from sdr.signatures import twilio_signature_valid
from standins.launch import StandIn, start

TOKEN, CLIENT = "zapi-token", "zapi-stand-in-client-token"
AUTH, SID = "twilio-token", "AC" + "ab" * 16


@pytest.fixture(scope="module")
def zapi() -> Iterator[StandIn]:
    with start("zapi", api_key=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def twilio() -> Iterator[StandIn]:
    with start("twilio", api_key=AUTH) as server:
        yield server


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint that records what is POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def zsend(zapi: StandIn, endpoint: str, body: dict[str, Any], client: str | None = CLIENT,
          token: str = TOKEN) -> requests.Response:
    headers = {"Client-Token": client} if client is not None else {}
    return requests.post(f"{zapi.url}/instances/INST1/token/{token}/{endpoint}", json=body, headers=headers,
                         timeout=5)


def test_zapi_send_text_answers_like_zapi(zapi):
    zapi.reset()
    answer = zsend(zapi, "send-text", {"phone": "5511987654321", "message": "Oi", "delayTyping": 2})
    assert answer.status_code == 200 and set(answer.json()) == {"zaapId", "messageId", "id"}
    assert answer.json()["id"] == answer.json()["messageId"]
    [sent] = zapi.sent()
    assert (sent["instance"], sent["phone"], sent["message"], sent["delayTyping"]) == (
        "INST1", "5511987654321", "Oi", 2)


@pytest.mark.parametrize("kwargs, body, status, error", [
    ({"client": None}, {"phone": "5511987654321", "message": "Oi"}, 400, "null not allowed"),
    ({"client": "wrong"}, {"phone": "5511987654321", "message": "Oi"}, 400, "Client-Token is not allowed"),
    ({"token": "wrong"}, {"phone": "5511987654321", "message": "Oi"}, 404, "Instance not found"),
    ({}, {"phone": "+55 11 98765", "message": "Oi"}, 400, "phone must be digits only (or a group/lid id)"),
    ({}, {"phone": "5511987654321", "message": ""}, 400, "message is required"),
    ({}, {"phone": "5511987654321", "message": "Oi", "delayTyping": 30}, 400,
     "delayTyping must be an integer from 1 to 15"),
])
def test_zapi_refusals(zapi, kwargs, body, status, error):
    zapi.reset()
    answer = zsend(zapi, "send-text", body, **kwargs)
    assert (answer.status_code, answer.json()) == (status, {"error": error})
    assert zapi.sent() == []


def test_zapi_media_endpoints(zapi):
    zapi.reset()
    assert zsend(zapi, "send-image", {"phone": "5511987654321", "image": "https://x/a.jpg", "caption": "c"}).ok
    assert zsend(zapi, "send-document/pdf", {"phone": "5511987654321", "document": "https://x/a.pdf"}).ok
    assert [(s["endpoint"], s["media"]) for s in zapi.sent()] == [("send-image", "https://x/a.jpg"),
                                                                   ("send-document", "https://x/a.pdf")]


def test_zapi_status_callback_on_demand(zapi, webhook):
    url, received = webhook
    zapi.reset()
    answer = requests.post(zapi.url + "/_control/status_callback", json={
        "url": url + "/webhooks/zapi?secret=s", "ids": ["3EB0A"], "status": "READ", "phone": "5511987654321",
        "instance": "INST1"}, timeout=5)
    assert answer.json()["status"] == 200
    [call] = received
    assert call["path"] == "/webhooks/zapi?secret=s"
    [status] = parse_zapi(json.loads(call["body"])).statuses
    assert (status.provider_message_id, status.status) == ("3EB0A", "read")


def tsend(twilio: StandIn, form: dict[str, str], auth: tuple[str, str] = (SID, AUTH)) -> requests.Response:
    return requests.post(f"{twilio.url}/2010-04-01/Accounts/{SID}/Messages.json", data=form, auth=auth, timeout=5)


def test_twilio_create_message_answers_the_resource(twilio):
    twilio.reset()
    answer = tsend(twilio, {"To": "whatsapp:+5511987654321", "From": "whatsapp:+14155238886", "Body": "Olá"})
    assert answer.status_code == 201
    resource = answer.json()
    assert resource["sid"].startswith("SM") and len(resource["sid"]) == 34
    assert (resource["status"], resource["to"], resource["body"], resource["direction"]) == (
        "queued", "whatsapp:+5511987654321", "Olá", "outbound-api")


@pytest.mark.parametrize("form, auth, status, code", [
    ({"To": "whatsapp:+5511987654321", "From": "whatsapp:+14155238886", "Body": "x"}, (SID, "bad"), 401, 20003),
    ({"To": "+5511987654321", "From": "whatsapp:+14155238886", "Body": "x"}, (SID, AUTH), 400, 21211),
    ({"To": "whatsapp:+5511987654321", "From": "whatsapp:+14155238886"}, (SID, AUTH), 400, 21619),
])
def test_twilio_refusals_use_twilio_error_bodies(twilio, form, auth, status, code):
    twilio.reset()
    answer = tsend(twilio, form, auth)
    assert answer.status_code == status and answer.json()["code"] == code
    assert answer.json()["more_info"].endswith(str(code))


def test_twilio_injected_429_is_the_whatsapp_rate_limit(twilio):
    twilio.reset()
    twilio.configure(fail_next=[429])
    answer = tsend(twilio, {"To": "whatsapp:+5511987654321", "From": "whatsapp:+14155238886", "Body": "x"})
    assert (answer.status_code, answer.json()["code"]) == (429, 63018)


def test_twilio_status_callback_on_demand_is_signed_like_twilio(twilio, webhook):
    url, received = webhook
    twilio.reset()
    callback = url + "/webhooks/twilio"
    sid = tsend(twilio, {"To": "whatsapp:+5511987654321", "From": "whatsapp:+14155238886", "Body": "x",
                         "StatusCallback": callback}).json()["sid"]
    for status, code in (("read", None), ("failed", 63016)):
        answer = requests.post(twilio.url + "/_control/status_callback",
                               json={"sid": sid, "status": status, "error_code": code}, timeout=5)
        assert answer.json()["status"] == 200
    read, failed = received
    for call in (read, failed):
        params = parse_qsl(call["body"], keep_blank_values=True)
        assert twilio_signature_valid(AUTH, callback, params, call["headers"]["X-Twilio-Signature"])
        assert not twilio_signature_valid("other", callback, params, call["headers"]["X-Twilio-Signature"])
    [report] = parse_twilio(dict(parse_qsl(failed["body"]))).statuses
    assert (report.provider_message_id, report.status, report.error_code) == (sid, "failed", "63016")
    assert parse_twilio(dict(parse_qsl(read["body"]))).statuses[0].status == "read"
