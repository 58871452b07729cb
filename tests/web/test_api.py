"""The admin API behind a bearer token: resuming a paused conversation."""

from __future__ import annotations

import dataclasses

import pytest

from tests.factories import conversation, phone, receive
from tests.web.conftest import make_app, queued


@pytest.fixture()
def auth(rt) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.settings.admin_token}"}


def paused_conversation(rt, *, lead_writes_after: bool) -> int:
    received = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "Oi, aqui é o João", from_me=True)
    if lead_writes_after:
        receive(rt, phone(1), "Oi João, e o orçamento?")
    return received.conversation_id


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "admin-token-for-tests"},
                                     {"Authorization": "Basic admin-token-for-tests"}])
def test_missing_or_wrong_token_is_401(rt, client, headers):
    cid = paused_conversation(rt, lead_writes_after=False)
    answer = client.post(f"/api/conversations/{cid}/resume", headers=headers)
    assert answer.status_code == 401
    with rt.sessions() as session:
        assert conversation(session, cid).status == "paused"


def test_disabled_when_no_token_is_configured(rt, auth):
    client = make_app(dataclasses.replace(rt.settings, admin_token="")).test_client()
    answer = client.post("/api/conversations/1/resume", headers={"Authorization": "Bearer "})
    assert answer.status_code == 403 and "SDR_ADMIN_TOKEN" in answer.json["reason"]
    assert client.post("/api/conversations/1/resume", headers=auth).status_code == 403


def test_unknown_conversation_is_404(client, auth):
    answer = client.post("/api/conversations/999999/resume", headers=auth)
    assert answer.status_code == 404 and "999999" in answer.json["reason"]


def test_resume_without_pending_messages(rt, client, auth):
    cid = paused_conversation(rt, lead_writes_after=False)
    answer = client.post(f"/api/conversations/{cid}/resume", headers=auth)
    assert answer.status_code == 200 and answer.json == {"id": cid, "status": "bot", "pending": False}
    with rt.sessions() as session:
        conv = conversation(session, cid)
    assert conv.status == "bot" and conv.paused_until is None
    assert queued(rt, "agent") == []


def test_resume_with_pending_messages_starts_a_turn(rt, client, auth):
    cid = paused_conversation(rt, lead_writes_after=True)
    answer = client.post(f"/api/conversations/{cid}/resume", headers=auth)
    assert answer.json == {"id": cid, "status": "bot", "pending": True}
    assert queued(rt, "agent") == [("sdr.turn.start", [cid, ""])]
