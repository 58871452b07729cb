"""The Meta Cloud API stand-in, driven with `requests` the way the Graph API is called, and its status callbacks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Iterator

import pytest
import requests

from sdr.channels.meta import parse_webhook
from sdr.meta_signature import signature_matches
from standins.launch import StandIn
from tests.meta_factories import ACCESS_TOKEN, PHONE_NUMBER_ID

TO = "+5511987654321"


def post(meta: StandIn, body: dict[str, Any], token: str = ACCESS_TOKEN, number: str = PHONE_NUMBER_ID,
         version: str = "v21.0") -> requests.Response:
    return requests.post(f"{meta.url}/{version}/{number}/messages", json=body, timeout=5,
                         headers={"Authorization": f"Bearer {token}"})


def text(body: str = "Olá!", to: str = TO) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": {"body": body}}


def test_a_text_send_answers_like_the_graph_api_and_is_recorded(meta):
    answer = post(meta, text("Olá! Tudo bem?"))
    assert answer.status_code == 200
    got = answer.json()
    assert got["messaging_product"] == "whatsapp"
    assert got["contacts"] == [{"input": TO, "wa_id": TO.lstrip("+")}]
    assert got["messages"][0]["id"].startswith("wamid.")
    [sent] = meta.sent()
    assert (sent["phone_number_id"], sent["to"], sent["type"], sent["text"], sent["message_id"]) == (
        PHONE_NUMBER_ID, TO, "text", "Olá! Tudo bem?", got["messages"][0]["id"])


def test_templates_media_and_read_receipts(meta):
    template = {"messaging_product": "whatsapp", "to": TO, "type": "template",
                "template": {"name": "retomar_conversa", "language": {"code": "pt_BR"}}}
    image = {"messaging_product": "whatsapp", "to": TO, "type": "image",
             "image": {"link": "https://example.com/painel.jpg", "caption": "Painel"}}
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.x",
            "typing_indicator": {"type": "text"}}
    assert [post(meta, b).status_code for b in (template, image, read)] == [200, 200, 200]
    assert post(meta, read).json() == {"success": True}
    assert [(s["type"], s["template"], s["link"]) for s in meta.sent()] == [
        ("template", "retomar_conversa", None), ("image", None, "https://example.com/painel.jpg")]
    assert len(meta.requests("read")) == 2


def test_a_wrong_token_is_meta_error_190_and_per_number_tokens_apply(meta):
    answer = post(meta, text(), token="wrong")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == 190
    meta.configure(tokens={"555000111": "chip-2-token"})
    assert post(meta, text(), token=ACCESS_TOKEN, number="555000111").status_code == 401
    assert post(meta, text(), token="chip-2-token", number="555000111").status_code == 200
    assert meta.sent()[0]["phone_number_id"] == "555000111"


@pytest.mark.parametrize("body", [{"to": TO, "type": "text", "text": {"body": "x"}},
                                  text(""), text(to="abc"), {**text(), "type": "hologram"},
                                  {"messaging_product": "whatsapp", "to": TO, "type": "template", "template": {}}])
def test_invalid_bodies_are_meta_error_100(meta, body):
    answer = post(meta, body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert meta.sent() == []


def test_injected_meta_errors_and_closed_windows(meta):
    meta.configure(meta_errors=[130429, {"code": 131056, "status": 429}])
    first, second, third = (post(meta, text()) for _ in range(3))
    assert (first.status_code, first.json()["error"]["code"]) == (400, 130429)
    assert first.json()["error"]["error_data"]["details"] == "Cloud API message throughput has been reached."
    assert (second.status_code, second.json()["error"]["code"]) == (429, 131056)
    assert third.status_code == 200
    meta.configure(window_closed=[TO])
    closed = post(meta, text())
    assert (closed.status_code, closed.json()["error"]["code"]) == (400, 131047)
    template = {"messaging_product": "whatsapp", "to": TO, "type": "template",
                "template": {"name": "retomar_conversa", "language": {"code": "pt_BR"}}}
    assert post(meta, template).status_code == 200


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/meta", got
    server.shutdown()


def test_status_callbacks_on_demand_are_signed_meta_bodies(meta, receiver):
    url, got = receiver
    answer = requests.post(meta.url + "/_control/status_callback", timeout=10, json={
        "url": url, "app_secret": "s3cret", "message_id": "wamid.ours", "status": "failed",
        "recipient_id": TO.lstrip("+"), "phone_number_id": PHONE_NUMBER_ID, "error_code": 131047})
    assert answer.status_code == 200 and answer.json()["status_code"] == 200
    [(headers, raw)] = got
    assert signature_matches("s3cret", raw, headers["X-Hub-Signature-256"])
    assert not signature_matches("other", raw, headers["X-Hub-Signature-256"])
    [status] = parse_webhook(json.loads(raw)).statuses
    assert (status.provider_message_id, status.status, status.error_code) == ("wamid.ours", "failed", "131047")


def test_a_status_callback_without_its_fields_is_400(meta):
    answer = requests.post(meta.url + "/_control/status_callback", json={"url": "http://x"}, timeout=5)
    assert answer.status_code == 400 and "needs" in answer.json()["error"]


def test_media_a_lead_sent_can_be_looked_up_and_downloaded_with_the_token(meta):
    import base64
    import hashlib

    voice = b"OggS\x00fake-opus-bytes" * 10
    added = requests.post(meta.url + "/_control/media", timeout=5, json={
        "id": "1908647269898587", "mime_type": "audio/ogg; codecs=opus",
        "content_base64": base64.b64encode(voice).decode()}).json()
    auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    info = requests.get(f"{meta.url}/v21.0/{added['id']}", headers=auth, timeout=5).json()
    assert (info["id"], info["mime_type"], info["file_size"]) == ("1908647269898587", "audio/ogg; codecs=opus",
                                                                  len(voice))
    assert info["sha256"] == hashlib.sha256(voice).hexdigest()
    download = requests.get(info["url"], headers=auth, timeout=5)
    assert download.content == voice and download.headers["Content-Type"] == "audio/ogg; codecs=opus"
    assert requests.get(info["url"], timeout=5).status_code == 401  # the URL alone is not enough
    missing = requests.get(f"{meta.url}/v21.0/999", headers=auth, timeout=5)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100
