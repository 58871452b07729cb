"""Delivery and human takeover, end to end: what the provider answers decides retries, and a
person typing on the business phone silences the bot until an operator resumes it.

Acceptance G (the provider answers 500 twice then 200 → exactly one delivered reply; it answers
400 → the message is marked failed and not retried) and F (a `fromMe` message typed by a human
pauses the bot, even over a turn already running; `POST /api/conversations/<id>/resume` with
the admin bearer token hands the conversation back and the lead's waiting message is
answered). Invariants I2 (never the same reply twice), I4 (a paused conversation gets no bot
message, even from a running turn) and I6 (provider failures degrade to retries or a recorded
failure, never a loop or a silent drop). The pause here is the default 30 minutes, so only
the resume call can end it within a test.
"""

from __future__ import annotations

from tests.e2e.helpers import (
    human_types,
    inbound_message,
    lead_says,
    send_requests_to,
    sends_to,
    settle,
    sql,
    turns_of,
    wait_analysis_in_flight,
    wait_conversation,
    wait_for_sends,
    wait_turn_closed,
)
from tests.factories import phone
from tests.fleet import wait_until


def admin(fleet) -> dict[str, str]:
    return {"Authorization": f"Bearer {fleet.env['SDR_ADMIN_TOKEN']}"}


def test_provider_500_twice_then_200_delivers_exactly_once(e2e, evolution, settings):
    lead = phone(501)
    evolution.configure(fail_next=[500, 500], kind="sendText")
    lead_says(e2e, lead, "Oi, quero saber o preço de um kit de 5 kWp")

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    assert [r["status"] for r in send_requests_to(evolution, lead)] == [500, 500, 201]
    [turn] = turns_of(settings, lead)
    assert turn.status == "done"
    [row] = sql(settings, "SELECT o.status, o.attempts, m.status AS message_status FROM outbox o "
                          "JOIN messages m ON m.id = o.message_id WHERE o.turn_id = :tid", tid=turn.id)
    assert (row.status, row.attempts, row.message_status) == ("sent", 3, "sent")


def test_provider_400_marks_the_message_failed_and_never_retries(e2e, evolution, settings):
    lead = phone(502)
    evolution.configure(fail_next=[400], kind="sendText")
    lead_says(e2e, lead, "Boa noite, vocês trabalham com bateria?")

    assert wait_turn_closed(settings, lead).status == "failed"
    settle(e2e, extra=3)  # longer than any retry backoff (SDR_SEND_RETRY_BACKOFF_MAX=2)
    assert [r["status"] for r in send_requests_to(evolution, lead)] == [400]
    assert sends_to(evolution, lead) == []
    [turn] = turns_of(settings, lead)
    [row] = sql(settings, "SELECT o.status, o.attempts, o.last_error, m.status AS message_status FROM outbox o "
                          "JOIN messages m ON m.id = o.message_id WHERE o.turn_id = :tid", tid=turn.id)
    assert (row.status, row.attempts, row.message_status) == ("failed", 1, "failed")
    assert "400" in row.last_error and "400" in (turn.error or "")

    # The failure is recorded and the conversation moves on: the next message is answered.
    lead_says(e2e, lead, "Oi? Alguém aí?")
    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    assert [t.status for t in turns_of(settings, lead)] == ["failed", "done"]


def test_human_typing_pauses_the_bot_even_over_a_running_turn(e2e, llm, evolution, settings):
    lead = phone(503)
    text = "Quero instalar placas na minha chácara"
    llm.configure(latency=1.5)
    lead_says(e2e, lead, text)
    wait_analysis_in_flight(llm, text)
    human = human_types(e2e, lead, "Oi! Aqui é a Ana, da equipe. Vou te atender pessoalmente.")

    wait_turn_closed(settings, lead)
    [turn] = turns_of(settings, lead)
    assert turn.status == "stopped", (turn.status, turn.outcome)
    conversation = wait_conversation(settings, lead)
    assert conversation.status == "paused"
    stored = inbound_message(settings, human)
    assert (stored.direction, stored.author, stored.conversation_id) == ("out", "human", conversation.id)

    # The lead answers the person; the bot stays silent while the pause lasts.
    lead_says(e2e, lead, "Ótimo, obrigado Ana!")
    settle(e2e, extra=4)
    assert sends_to(evolution, lead) == []
    assert evolution.requests("sendText") == []
    assert [t.status for t in turns_of(settings, lead)] == ["stopped"]


def test_resume_through_the_admin_api_answers_what_the_lead_wrote(e2e, evolution, settings):
    lead = phone(504)
    human_types(e2e, lead, "Olá Maria, aqui é o Pedro. Tudo certo com a visita técnica de amanhã?")
    waiting = lead_says(e2e, lead, "Tudo certo! Que horas vocês chegam?")
    conversation = wait_conversation(settings, lead, "paused")
    wait_until(lambda: inbound_message(settings, waiting).conversation_id == conversation.id, 20, 0.1,
               "the lead's message to be routed")
    settle(e2e)
    assert sends_to(evolution, lead) == [] and turns_of(settings, lead) == []

    path = f"/api/conversations/{conversation.id}/resume"
    assert e2e.post(path).status_code == 401
    assert e2e.post(path, headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert e2e.post("/api/conversations/999999/resume", headers=admin(e2e)).status_code == 404
    assert wait_conversation(settings, lead).status == "paused"

    answer = e2e.post(path, headers=admin(e2e))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": conversation.id, "status": "bot", "pending": True}

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    [turn] = turns_of(settings, lead)
    assert turn.status == "done" and turn.upto_message_id == inbound_message(settings, waiting).id
    assert wait_conversation(settings, lead).status == "bot"
