"""The sandbox chat page and its transcript endpoint, behind the sandbox secret."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text

from sdr.pipeline import ingest_step
from tests.factories import phone, run_turn
from tests.web.conftest import make_app


@pytest.fixture()
def secret(rt) -> dict[str, str]:
    return {"secret": rt.settings.sandbox_secret}


def test_the_page_requires_the_secret(client):
    assert client.get("/sandbox").status_code == 401
    assert client.get("/sandbox", query_string={"secret": "wrong"}).status_code == 401


def test_the_page_says_replies_come_from_the_stand_in(client, secret):
    answer = client.get("/sandbox", query_string=secret)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'id="stand-in-notice"' in page and "simulador local de LLM" in page


def test_the_page_names_the_model_when_a_real_one_answers(rt, secret):
    real = dataclasses.replace(rt.settings, openai_api_key="sk-real-looking-key-123")
    page = make_app(real).test_client().get("/sandbox", query_string=secret).get_data(as_text=True)
    assert 'id="stand-in-notice"' not in page and rt.settings.reply_model in page


def test_disabled_without_a_secret(rt):
    client = make_app(dataclasses.replace(rt.settings, sandbox_secret="")).test_client()
    assert client.get("/sandbox", query_string={"secret": ""}).status_code == 404
    assert client.post("/webhooks/sandbox", json={"phone": phone(1), "text": "Oi"}).status_code == 404


def test_messages_returns_the_conversation(rt, client, secret):
    for n, said in enumerate(("Oi", "Quanto custa?")):
        client.post("/webhooks/sandbox", json={"phone": phone(1), "text": said, "id": f"s-{n}"}, query_string=secret)
    client.post("/webhooks/sandbox", json={"phone": phone(2), "text": "Outro lead"}, query_string=secret)
    with rt.sessions() as session:
        ids = list(session.execute(text("SELECT id FROM messages ORDER BY id")).scalars())
    starts = [ingest_step(rt, mid) for mid in ids]
    assert run_turn(rt, starts[1].conversation_id).outcome == "done"

    answer = client.get("/sandbox/messages", query_string={**secret, "phone": phone(1)})
    assert answer.status_code == 200
    messages = answer.json["messages"]
    assert [(m["direction"], m["author"]) for m in messages] == [("in", "lead"), ("in", "lead"), ("out", "bot")]
    assert [m["text"] for m in messages[:2]] == ["Oi", "Quanto custa?"]
    assert messages[2]["status"] == "sent" and messages[2]["text"]

    later = client.get("/sandbox/messages", query_string={**secret, "phone": phone(1), "after": messages[1]["id"]})
    assert [m["id"] for m in later.json["messages"]] == [messages[2]["id"]]


def test_messages_requires_the_secret_and_a_phone(client, secret):
    assert client.get("/sandbox/messages", query_string={"phone": phone(1)}).status_code == 401
    bad = client.get("/sandbox/messages", query_string={**secret, "phone": "abc"})
    assert bad.status_code == 400 and "bad query" in bad.json["reason"]
    assert client.get("/sandbox/messages", query_string={**secret, "phone": phone(1), "after": "x"}).status_code == 400
    assert client.get("/sandbox/messages", query_string={**secret, "phone": phone(5)}).json == {"messages": []}
