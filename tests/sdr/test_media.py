"""Leads' audio, images and documents through the real pipeline: stored pending, resolved to text by the
real download and model clients against the stand-ins, waited for by the turn, and shown to the model."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from sqlalchemy import text

from sdr.channels.base import InboundEvent
from sdr.history import transcript
from sdr.inbound import store_events
from sdr.media import resolve_media
from sdr.pipeline import StartTurn, analyze_step, ingest_step, start_step
from tests.documents_fixtures import pdf_bytes
from tests.factories import message_id, phone, receive, rows, run_turn

MB = 1024 * 1024


def send_media(rt, media, n: int, kind: str, name: str, mime: str, *, caption: str | None = None,
               sha256: str | None = None) -> tuple[int, int]:
    """A lead's attachment as a webhook stores it and ingest routes it: (message id, conversation id)."""
    ref: dict[str, Any] = {"url": f"{media.url}/files/{name}", "mime": mime, "filename": name}
    if sha256:
        ref["sha256"] = sha256
    event = InboundEvent(provider="evolution", channel_ref="sdr-test", provider_message_id=message_id(),
                         lead_address=phone(n), kind=kind, text=caption, profile_name="Maria", media=ref)
    with rt.sessions() as session:
        stored = store_events(session, [event])
    assert stored.media_ids == stored.new_ids  # the webhook enqueues sdr.media.resolve for these
    start = ingest_step(rt, stored.new_ids[0])
    return stored.new_ids[0], start.conversation_id


def message(rt, mid: int) -> Any:
    with rt.sessions() as session:
        return rows(session, "SELECT * FROM messages WHERE id = :mid", mid=mid)[0]


def prompt_of(llm, kind: str) -> str:
    return json.dumps(llm.requests(kind=kind)[-1]["body"]["messages"], ensure_ascii=False)


def test_a_voice_note_is_answered_on_the_basis_of_its_transcript(rt, llm, media, evolution):
    media.add_files({"name": "nota.ogg", "mime": "audio/ogg",
                     "text": "TRANSCRIPT: Quero instalar energia solar, minha conta vem uns 450 reais"})
    mid, cid = send_media(rt, media, 1, "audio", "nota.ogg", "audio/ogg")

    assert resolve_media(rt, mid, last_attempt=False).status == "ready"
    run_turn(rt, cid)

    assert message(rt, mid).media_text == "Quero instalar energia solar, minha conta vem uns 450 reais"
    [call] = llm.requests(kind="transcription")
    assert call["body"]["model"] == "whisper-1" and call["body"]["language"] == "pt"
    shown = "[áudio] Quero instalar energia solar, minha conta vem uns 450 reais"
    assert shown in prompt_of(llm, "analysis") and shown in prompt_of(llm, "reply")
    assert "Quero instalar energia solar" in evolution.sent()[-1]["text"]  # the stand-in answers what it read


def test_an_image_is_answered_on_the_basis_of_its_description(rt, llm, media, evolution):
    description = "Conta de luz da CPFL, consumo 380 kWh, total R$ 412,50"
    media.add_files({"name": "conta.jpg", "mime": "image/jpeg", "text": f"DESCRIPTION: {description}"})
    mid, cid = send_media(rt, media, 2, "image", "conta.jpg", "image/jpeg", caption="minha conta")

    resolve_media(rt, mid, last_attempt=False)
    run_turn(rt, cid)

    vision = llm.requests(kind="vision")[-1]["body"]
    assert vision["model"] == rt.settings.media.vision_model
    parts = vision["messages"][0]["content"]
    assert "kWh" in parts[0]["text"] and parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert f"[imagem] (legenda: minha conta) {description}" in prompt_of(llm, "reply")


def test_a_pdf_text_reaches_the_prompt(rt, llm, media):
    media.add_files({"name": "proposta.pdf", "mime": "application/pdf", "content_b64": _b64(
        pdf_bytes("Proposta concorrente: 12 paineis por R$ 21.000"))})
    mid, cid = send_media(rt, media, 3, "document", "proposta.pdf", "application/pdf")
    resolve_media(rt, mid, last_attempt=False)
    run_turn(rt, cid)
    assert "[documento proposta.pdf] Proposta concorrente: 12 paineis por R$ 21.000" in prompt_of(llm, "reply")


def test_a_30_mb_file_is_refused_before_it_is_read_and_the_lead_gets_a_polite_reply(rt, llm, media, evolution):
    media.add_files({"name": "video.pdf", "mime": "application/pdf", "size": 30 * MB})
    mid, cid = send_media(rt, media, 4, "document", "video.pdf", "application/pdf")

    outcome = resolve_media(rt, mid, last_attempt=False)

    assert (outcome.status, outcome.reason) == ("failed", "too_large")
    assert media.bytes_sent()["sent"].get("video.pdf", 0) < rt.settings.media.max_bytes // 2
    run_turn(rt, cid)
    reply = prompt_of(llm, "reply")
    assert "[documento video.pdf não pôde ser lido: arquivo grande demais]" in reply
    assert "Nunca finja que ouviu, viu ou leu" in reply
    assert "grande demais" in evolution.sent()[-1]["text"]


def test_a_failed_transcription_gets_the_honest_reply_never_a_placeholder(rt, llm, media, evolution):
    media.add_files({"name": "ruido.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: algo"})
    llm.configure(kind="transcription", fail_next=[400])
    mid, cid = send_media(rt, media, 5, "audio", "ruido.ogg", "audio/ogg")

    assert resolve_media(rt, mid, last_attempt=False).reason == "model_failed"
    run_turn(rt, cid)

    reply, analysis = prompt_of(llm, "reply"), prompt_of(llm, "analysis")
    assert "[áudio não pôde ser ouvido: o serviço de transcrição ou leitura falhou]" in reply
    assert "não consegui ouvir seu áudio, pode escrever?" in reply and "áudio não pôde ser ouvido" in analysis
    assert "[áudio]" not in reply  # no bare placeholder that reads like content
    assert evolution.sent()[-1]["text"].endswith("Desculpe, não consegui ouvir seu áudio. Pode escrever o que precisa?")


def test_the_turn_waits_for_pending_media_then_proceeds(rt, llm, media):
    media.add_files({"name": "a.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: oi"})
    mid, cid = send_media(rt, media, 6, "audio", "a.ogg", "audio/ogg")

    started = start_step(rt, cid, "")
    again = analyze_step(rt, cid, started.token, started.queued_at, last_attempt=False)

    assert isinstance(again, StartTurn) and again.flush.delay > 0
    assert again.queued_at == started.queued_at is not None  # the timeline keeps when the lead wrote
    with rt.sessions() as session:
        assert rows(session, "SELECT id FROM turns") == []
    assert llm.stats()["calls"] == {}
    resolve_media(rt, mid, last_attempt=False)
    restarted = start_step(rt, cid, again.flush.generation)  # the lock was given back
    assert restarted is not None
    payload = analyze_step(rt, cid, restarted.token, restarted.queued_at, last_attempt=False)
    assert payload["context"]["history"][0]["media_text"] == "oi"


def test_after_the_max_wait_the_turn_proceeds_and_says_why(rt, llm, media, evolution):
    mid, cid = send_media(rt, media, 7, "audio", "never-resolved.ogg", "audio/ogg")
    with rt.sessions() as session:
        session.execute(text("UPDATE messages SET created_at = now() - make_interval(secs => :s) WHERE id = :mid"),
                        {"s": rt.settings.media.max_wait_seconds + 1, "mid": mid})
    run_turn(rt, cid)
    assert "[áudio não pôde ser ouvido: demorou demais para processar]" in prompt_of(llm, "reply")
    assert "não consegui ouvir seu áudio" in evolution.sent()[-1]["text"]


def test_resolution_is_once_under_redelivery_and_the_same_file_is_transcribed_once(rt, llm, media):
    media.add_files({"name": "x.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: quanto custa?"},
                    {"name": "encaminhado.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: quanto custa?"})
    llm.configure(kind="transcription", fail_next=[503])
    first, _ = send_media(rt, media, 8, "audio", "x.ogg", "audio/ogg")
    try:
        resolve_media(rt, first, last_attempt=False)
        raise AssertionError("a transient model failure must ask for a retry")
    except Exception as exc:  # noqa: BLE001 - asserting the class below
        assert type(exc).__name__ == "MediaRetry"
    assert message(rt, first).media_status == "pending"

    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(resolve_media(rt, first, False))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.status for o in outcomes) in (["ready", "ready"], ["ready", "skipped"])
    assert resolve_media(rt, first, last_attempt=False).status == "skipped"

    forwarded, _ = send_media(rt, media, 9, "audio", "encaminhado.ogg", "audio/ogg")
    assert resolve_media(rt, forwarded, last_attempt=False).cached
    assert message(rt, forwarded).media_text == message(rt, first).media_text == "quanto custa?"
    assert llm.stats()["calls"]["transcription"] <= 3  # 1 failed + at most 2 concurrent, never for the copy
    with rt.sessions() as session:
        assert len(rows(session, "SELECT * FROM media_cache")) == 1


def test_a_provider_hash_already_known_skips_the_download(rt, llm, media):
    media.add_files({"name": "y.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: bom dia"})
    first, _ = send_media(rt, media, 10, "audio", "y.ogg", "audio/ogg")
    resolve_media(rt, first, last_attempt=False)
    with rt.sessions() as session:
        sha = rows(session, "SELECT sha256 FROM media_cache")[0].sha256
    again, _ = send_media(rt, media, 11, "audio", "y.ogg", "audio/ogg", sha256=_b64(bytes.fromhex(sha)))
    assert resolve_media(rt, again, last_attempt=False).cached
    assert media.bytes_sent()["requests"]["y.ogg"] == 1


def test_text_turns_and_the_sandbox_transcript_show_media_text(rt, llm, media):
    media.add_files({"name": "z.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: tenho interesse"})
    mid, cid = send_media(rt, media, 12, "audio", "z.ogg", "audio/ogg")
    with rt.sessions() as session:
        assert transcript(session, "evolution", phone(12))[0]["shown"] == "[áudio] (processando…)"
    resolve_media(rt, mid, last_attempt=False)
    receive(rt, phone(12), "e aí?")
    run_turn(rt, cid)
    with rt.sessions() as session:
        items = transcript(session, "evolution", phone(12))
    assert items[0]["shown"] == "[áudio] tenho interesse" and items[0]["media_status"] == "ready"
    assert items[1]["shown"] == "e aí?"


def test_media_limits_come_from_settings(rt, llm, media):
    small = dataclasses.replace(rt.settings, media=dataclasses.replace(rt.settings.media, max_bytes=2048))
    media.add_files({"name": "m.ogg", "mime": "audio/ogg", "size": 4096, "content_length": "omit"})
    mid, _ = send_media(rt, media, 13, "audio", "m.ogg", "audio/ogg")
    assert resolve_media(dataclasses.replace(rt, settings=small), mid, False).reason == "too_large"


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_the_sweep_finds_attachments_whose_resolution_was_lost(rt, llm, media):
    from sdr.jobs import MEDIA_RETRY_WINDOW_SECONDS, sweep
    from sdr.settings import media_time_limit

    grace = rt.settings.visibility_timeout + media_time_limit(rt.settings)
    ids = [send_media(rt, media, 20 + n, "audio", f"{n}.ogg", "audio/ogg")[0] for n in range(4)]
    ages = {ids[0]: grace + 60, ids[1]: 5, ids[2]: MEDIA_RETRY_WINDOW_SECONDS + 60, ids[3]: grace + 60}
    with rt.sessions() as session:
        for mid, age in ages.items():
            session.execute(text("UPDATE messages SET created_at = now() - make_interval(secs => :s) "
                                 "WHERE id = :mid"), {"s": age, "mid": mid})
        session.execute(text("UPDATE messages SET media_status = 'ready' WHERE id = :mid"), {"mid": ids[3]})
    assert sweep(rt).resolve == [ids[0]]  # lost; not the fresh one, the hopeless one or the resolved one
