"""Bounded downloads against the media stand-in: limits hold before a body is read, and every provider path works."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest
import requests

from sdr.downloads import DownloadError, Limits, MediaTooLarge, TransientDownloadError, decode_base64, fetch
from sdr.locators import Source, fetch_media
from sdr.settings import EvolutionConfig
from tests.conftest import MEDIA_KEY

MB = 1024 * 1024
LIMITS = Limits(max_bytes=16 * MB, connect_timeout=2, deadline_seconds=10)


@pytest.fixture()
def session():
    with requests.Session() as s:
        yield s


def url(media, name: str) -> str:
    return f"{media.url}/files/{name}"


def test_a_file_is_fetched_with_its_type_and_hash(media, session):
    media.add_files({"name": "nota.ogg", "text": "TRANSCRIPT: oi", "mime": "audio/ogg"})
    blob = fetch(session, url(media, "nota.ogg"), LIMITS)
    assert blob.data == b"TRANSCRIPT: oi" and blob.mime == "audio/ogg"
    assert blob.sha256 == hashlib.sha256(b"TRANSCRIPT: oi").hexdigest()


def test_a_declared_30_mb_file_is_refused_before_its_body_is_read(media, session):
    media.add_files({"name": "video.mp4", "size": 30 * MB, "mime": "video/mp4"})
    with pytest.raises(MediaTooLarge):
        fetch(session, url(media, "video.mp4"), LIMITS)
    sent = media.bytes_sent()["sent"].get("video.mp4", 0)
    assert sent < LIMITS.max_bytes // 2, sent  # what the socket buffers took, far from the limit


def test_a_body_without_length_is_cut_off_while_streaming(media, session):
    media.add_files({"name": "big.pdf", "size": 30 * MB, "mime": "application/pdf", "content_length": "omit"})
    small = dataclasses.replace(LIMITS, max_bytes=2 * MB)
    with pytest.raises(MediaTooLarge):
        fetch(session, url(media, "big.pdf"), small)
    assert media.bytes_sent()["sent"]["big.pdf"] < 30 * MB  # the rest was never sent, let alone read


def test_a_body_shorter_than_declared_is_a_transient_failure(media, session):
    media.add_files({"name": "short.jpg", "text": "abc", "mime": "image/jpeg", "content_length": 500})
    with pytest.raises(TransientDownloadError):
        fetch(session, url(media, "short.jpg"), dataclasses.replace(LIMITS, deadline_seconds=2))


def test_a_trickling_sender_is_cut_at_the_deadline(media, session):
    media.add_files({"name": "slow.ogg", "size": 20 * 64 * 1024, "chunk_delay": 0.2, "mime": "audio/ogg"})
    with pytest.raises(TransientDownloadError, match="deadline"):
        fetch(session, url(media, "slow.ogg"), dataclasses.replace(LIMITS, deadline_seconds=1))


def test_http_errors_are_classified(media, session):
    media.add_files({"name": "gone.ogg", "text": "x", "status": 404}, {"name": "busy.ogg", "text": "x", "status": 503})
    with pytest.raises(DownloadError) as gone:
        fetch(session, url(media, "gone.ogg"), LIMITS)
    assert not gone.value.transient
    with pytest.raises(TransientDownloadError):
        fetch(session, url(media, "busy.ogg"), LIMITS)


def test_base64_is_measured_before_it_is_decoded():
    assert decode_base64(base64.b64encode(b"ola").decode(), 10).data == b"ola"
    data_url = "data:image/png;base64," + base64.b64encode(b"png!").decode()
    assert decode_base64(data_url, 10).mime == "image/png"
    with pytest.raises(MediaTooLarge):
        decode_base64("A" * (40 * MB), 16 * MB)  # would be 30 MB; refused without decoding
    with pytest.raises(DownloadError):
        decode_base64("não é base64!", 100)


def test_meta_media_id_is_looked_up_then_downloaded_with_the_token(media, session, settings):
    media.add_files({"name": "conta.jpg", "text": "DESCRIPTION: conta", "mime": "image/jpeg",
                     "media_id": "1003383421387256", "auth": "bearer"})
    config = dataclasses.replace(settings, media=dataclasses.replace(
        settings.media, meta_graph_url=media.url, meta_access_token=MEDIA_KEY))
    source = Source("meta", "106540352242922", "wamid.X", {"provider_media_id": "1003383421387256"})
    blob = fetch_media(session, config, source, LIMITS)
    assert blob.data == b"DESCRIPTION: conta" and blob.mime == "image/jpeg"
    lookup = media.requests(kind="meta_lookup")[0]
    assert lookup["path"] == f"/{settings.media.meta_graph_version}/1003383421387256"
    assert lookup["headers"]["Authorization"] == f"Bearer {MEDIA_KEY}"


def test_meta_refuses_a_file_whose_lookup_says_it_is_too_big(media, session, settings):
    media.add_files({"name": "huge.mp4", "size": 30 * MB, "mime": "video/mp4", "media_id": "77", "auth": "bearer"})
    config = dataclasses.replace(settings, media=dataclasses.replace(
        settings.media, meta_graph_url=media.url, meta_access_token=MEDIA_KEY))
    with pytest.raises(MediaTooLarge):
        fetch_media(session, config, Source("meta", "1", "wamid.Y", {"provider_media_id": "77"}), LIMITS)
    assert media.bytes_sent()["requests"].get("huge.mp4") is None  # never even asked for


def test_evolution_media_comes_from_get_base64(media, session, settings):
    media.add_files({"name": "audio.ogg", "text": "TRANSCRIPT: quero orçamento", "mime": "audio/ogg",
                     "key_id": "3EB0AUDIO"})
    config = dataclasses.replace(settings, evolution=EvolutionConfig(media.url, MEDIA_KEY, "sdr-test", "s"))
    encrypted = {"url": "https://mmg.whatsapp.net/v/t62.7117-24/x.enc", "mimetype": "audio/ogg; codecs=opus"}
    blob = fetch_media(session, config, Source("evolution", "sdr-test", "3EB0AUDIO", encrypted), LIMITS)
    assert blob.data == "TRANSCRIPT: quero orçamento".encode()
    [call] = media.requests(kind="evolution_base64")
    assert call["path"] == "/chat/getBase64FromMediaMessage/sdr-test" and call["body"]["key_id"] == "3EB0AUDIO"


def test_a_declared_size_over_the_limit_is_refused_without_any_request(media, session, settings):
    source = Source("zapi", "inst", "x", {"url": url(media, "any.ogg"), "size": 30 * MB})
    with pytest.raises(MediaTooLarge):
        fetch_media(session, settings, source, LIMITS)
    assert media.requests() == []


def test_meta_webhook_url_is_downloaded_with_the_token(media, session, settings):
    media.add_files({"name": "nota.ogg", "text": "TRANSCRIPT: oi", "mime": "audio/ogg", "auth": "bearer"})
    with_token = dataclasses.replace(settings, media=dataclasses.replace(settings.media, meta_access_token=MEDIA_KEY))
    source = Source("meta", "1", "wamid.Z", {"url": url(media, "nota.ogg"), "provider_media_id": None})
    assert fetch_media(session, with_token, source, LIMITS).data == b"TRANSCRIPT: oi"
    with pytest.raises(DownloadError):  # without the token the lookaside URL refuses
        fetch_media(session, settings, source, LIMITS)
    assert media.requests(kind="meta_lookup") == []
