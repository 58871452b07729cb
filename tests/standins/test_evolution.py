"""The Evolution API v2 stand-in, driven with ``requests`` the way our channel adapter calls it."""

from __future__ import annotations

import re
import signal
import time
import uuid
from typing import Any

import pytest
import requests

from standins.launch import StandIn, start

NUMBER = "5511987654321"


def send(server: StandIn, body: dict[str, Any], instance: str = "loja", key: str | None = None,
         timeout: float = 5) -> requests.Response:
    headers = {"apikey": key if key is not None else server.options["api_key"]}
    return requests.post(f"{server.url}/message/sendText/{instance}", json=body, headers=headers, timeout=timeout)


def test_send_text_returns_201_with_the_v2_message_object(evolution: StandIn) -> None:
    before = int(time.time())
    response = send(evolution, {"number": NUMBER, "text": "Olá! Tudo bem?", "delay": 1200})
    assert response.status_code == 201
    message = response.json()
    assert message["key"]["remoteJid"] == f"{NUMBER}@s.whatsapp.net" and message["key"]["fromMe"] is True
    assert re.fullmatch(r"3EB0[0-9A-F]{36}", message["key"]["id"])
    assert message["message"] == {"conversation": "Olá! Tudo bem?"}
    assert (message["status"], message["messageType"], message["pushName"], message["source"]) == (
        "PENDING", "conversation", "Você", "unknown")
    assert before <= message["messageTimestamp"] <= time.time() + 1
    assert uuid.UUID(message["instanceId"])
    record = evolution.requests()[0]
    assert (record["kind"], record["instance"], record["number"], record["status"], record["delay"]) == (
        "sendText", "loja", NUMBER, 201, 1200)


def test_message_ids_are_unique_and_jids_are_kept(evolution: StandIn) -> None:
    ids = {send(evolution, {"number": NUMBER, "text": "mesmo texto"}).json()["key"]["id"] for _ in range(5)}
    assert len(ids) == 5
    jid = "5511999990000@s.whatsapp.net"
    assert send(evolution, {"number": jid, "text": "oi"}).json()["key"]["remoteJid"] == jid


def test_wrong_or_missing_apikey_is_401(evolution: StandIn) -> None:
    for key in ("", "wrong"):
        response = send(evolution, {"number": NUMBER, "text": "oi"}, key=key)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
    assert evolution.sent() == [] and [r["status"] for r in evolution.requests()] == [401, 401]


@pytest.mark.parametrize("body", [{"text": "oi"}, {"number": NUMBER}, {"number": NUMBER, "text": ""},
                                  {"number": "not a number", "text": "oi"}, {"number": 5511987654321, "text": "oi"}])
def test_invalid_bodies_are_400_with_a_message_list(evolution: StandIn, body: dict[str, Any]) -> None:
    response = send(evolution, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == 400 and payload["error"] == "Bad Request"
    assert isinstance(payload["response"]["message"], list) and payload["response"]["message"]
    assert evolution.sent() == []


def test_number_not_on_whatsapp(evolution: StandIn) -> None:
    evolution.configure(not_on_whatsapp=["+55 11 90000-0001"])
    response = send(evolution, {"number": "5511900000001", "text": "oi"})
    assert response.status_code == 400
    assert response.json()["response"]["message"] == [
        {"exists": False, "jid": "5511900000001@s.whatsapp.net", "number": "5511900000001"}]
    assert send(evolution, {"number": NUMBER, "text": "oi"}).status_code == 201
    assert [s["number"] for s in evolution.sent()] == [NUMBER]
    evolution.reset()
    assert send(evolution, {"number": "5511900000001", "text": "oi"}).status_code == 201


def test_fail_next_then_success_and_sent_lists_only_successes_in_order(evolution: StandIn) -> None:
    evolution.configure(fail_next=[500, 503])
    statuses = [send(evolution, {"number": NUMBER, "text": f"parte {i}"}).status_code for i in range(4)]
    assert statuses == [500, 503, 201, 201]
    failed = evolution.requests()[0]
    assert failed["status"] == 500 and failed["text"] == "parte 0"
    assert [s["text"] for s in evolution.sent()] == ["parte 2", "parte 3"]
    assert all(re.fullmatch(r"3EB0[0-9A-F]{36}", s["message_id"]) for s in evolution.sent())
    assert evolution.stats()["calls"] == {"sendText": 4}


def test_fault_body_uses_the_evolution_envelope(evolution: StandIn) -> None:
    evolution.configure(fail_next=[500])
    response = send(evolution, {"number": NUMBER, "text": "oi"})
    assert response.json() == {"status": 500, "error": "Internal Server Error",
                               "response": {"message": "Internal Server Error"}}


def test_fail_next_by_kind_leaves_presence_alone(evolution: StandIn) -> None:
    evolution.configure(fail_next=[502], kind="sendText")
    presence = requests.post(f"{evolution.url}/message/sendPresence/loja", timeout=5,
                             json={"number": NUMBER, "presence": "composing", "delay": 1000},
                             headers={"apikey": evolution.options["api_key"]})
    assert presence.status_code == 201 and presence.json() == {}
    assert send(evolution, {"number": NUMBER, "text": "oi"}).status_code == 502
    assert [(r["kind"], r["status"]) for r in evolution.requests()] == [("presence", 201), ("sendText", 502)]
    assert evolution.requests(kind="presence")[0]["presence"] == "composing"


def test_invalid_presence_is_400(evolution: StandIn) -> None:
    response = requests.post(f"{evolution.url}/message/sendPresence/loja", json={"number": NUMBER, "presence": "x"},
                             headers={"apikey": evolution.options["api_key"]}, timeout=5)
    assert response.status_code == 400


def test_latency_and_honoured_delay(evolution: StandIn) -> None:
    evolution.configure(latency=0.3)
    started = time.monotonic()
    send(evolution, {"number": NUMBER, "text": "oi", "delay": 5000})
    assert 0.3 <= time.monotonic() - started < 2  # the request's delay is not slept by default
    evolution.configure(latency=0, honour_delay=True)
    started = time.monotonic()
    send(evolution, {"number": NUMBER, "text": "oi", "delay": 400})
    assert time.monotonic() - started >= 0.4


def test_hang_next_times_out_the_client_and_reset_releases_it(evolution: StandIn) -> None:
    evolution.configure(hang_next=1)
    with pytest.raises(requests.Timeout):
        send(evolution, {"number": NUMBER, "text": "oi"}, timeout=0.5)
    assert evolution.stats()["in_flight"] == 1
    assert send(evolution, {"number": NUMBER, "text": "oi"}).status_code == 201
    evolution.reset()
    deadline = time.monotonic() + 3
    while evolution.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert evolution.stats()["in_flight"] == 0


def test_invalid_config_is_rejected_and_not_applied(evolution: StandIn) -> None:
    for cfg in ({"not_on_whatsap": ["1"]}, {"not_on_whatsapp": [NUMBER], "honour_delay": "yes"}):
        response = requests.post(evolution.url + "/_control/config", json=cfg, timeout=5)
        assert response.status_code == 400
    assert send(evolution, {"number": NUMBER, "text": "oi"}).status_code == 201  # nothing was half-applied


def test_cli_line_health_and_clean_sigterm() -> None:
    server = start("evolution")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url) and not server.url.endswith(":0")
        assert server.health() == {"ok": True, "kind": "evolution"}
        # Without --api-key the documented default key is accepted.
        ok = requests.post(f"{server.url}/message/sendText/x", json={"number": NUMBER, "text": "oi"},
                           headers={"apikey": "evolution-stand-in-key"}, timeout=5)
        assert ok.status_code == 201
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(5) == 0
        server.stop()
