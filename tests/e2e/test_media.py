"""Attachments end to end through real processes: the sandbox webhook with a media URL, the worker
downloading it from the media stand-in and transcribing it through the LLM stand-in, the turn
waiting for it, and the reply reaching the lead."""

from __future__ import annotations

import json

from tests.e2e.helpers import turns_of
from tests.factories import phone
from tests.fleet import wait_until

MB = 1024 * 1024


def send(e2e, number: str, text: str | None = None, media: dict | None = None):
    body = {"phone": number, **({"text": text} if text else {}), **({"media": media} if media else {})}
    answer = e2e.post("/webhooks/sandbox", json=body, params={"secret": e2e.env["SDR_SANDBOX_SECRET"]})
    assert answer.status_code == 200, answer.text
    return answer


def sandbox_messages(e2e, number: str) -> list[dict]:
    params = {"phone": number, "secret": e2e.env["SDR_SANDBOX_SECRET"]}
    return e2e.get("/sandbox/messages", params=params).json()["messages"]


def wait_reply(e2e, number: str) -> list[dict]:
    def replied():
        got = sandbox_messages(e2e, number)
        return got if any(m["direction"] == "out" for m in got) else None
    return wait_until(replied, 45, 0.2, f"a reply to {number}")


def test_a_voice_note_sent_with_text_is_answered_in_one_turn_that_waited_for_the_transcript(e2e, llm, media,
                                                                                            settings):
    # The download trickles for ~3 s, longer than the buffer's max wait, so only waiting for media
    # can put the transcript into the turn.
    transcript = "TRANSCRIPT: Minha conta de luz vem uns 600 reais, quero economizar".encode()
    media.add_files({"name": "nota.ogg", "mime": "audio/ogg", "content_b64": _b64(transcript.ljust(640 * 1024)),
                     "chunk_delay": 0.3})
    number = phone(1)
    send(e2e, number, "Oi, boa tarde")
    send(e2e, number, media={"url": f"{media.url}/files/nota.ogg", "mime": "audio/ogg"})

    messages = wait_reply(e2e, number)

    [turn] = turns_of(settings, number)
    assert turn.queued_at is not None and turn.status == "done"  # the wait shows in the turn's timeline
    reply_prompt = json.dumps(llm.requests(kind="reply")[-1]["body"]["messages"], ensure_ascii=False)
    assert "Oi, boa tarde" in reply_prompt
    assert "[áudio] Minha conta de luz vem uns 600 reais, quero economizar" in reply_prompt
    assert [m["shown"] for m in messages if m["direction"] == "in"] == [
        "Oi, boa tarde", "[áudio] Minha conta de luz vem uns 600 reais, quero economizar"]
    assert llm.stats()["calls"]["transcription"] == 1


def test_a_30_mb_attachment_is_refused_unread_and_the_lead_gets_a_polite_reply(e2e, llm, media):
    media.add_files({"name": "catalogo.pdf", "mime": "application/pdf", "size": 30 * MB})
    number = phone(2)
    send(e2e, number, "segue o catálogo", media={"url": f"{media.url}/files/catalogo.pdf",
                                                 "mime": "application/pdf", "filename": "catalogo.pdf"})

    messages = wait_reply(e2e, number)

    assert media.bytes_sent()["sent"].get("catalogo.pdf", 0) < 8 * MB
    [lead, bot] = messages
    assert lead["media_status"] == "failed" and "arquivo grande demais" in lead["shown"]
    assert "grande demais" in bot["text"]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
