"""The media stand-in's control API and its provider endpoints' error shapes."""

from __future__ import annotations

import pytest
import requests

from standins.launch import StandIn, StandInError, start

KEY = "media-key"


@pytest.fixture(scope="module")
def server():
    with start("media", api_key=KEY) as running:
        yield running


@pytest.fixture()
def media(server: StandIn) -> StandIn:
    server.reset()
    return server


def test_bad_file_specs_are_refused(media: StandIn) -> None:
    with pytest.raises(StandInError, match="needs"):
        media.add_files({"name": "x"})
    with pytest.raises(StandInError, match="content_length"):
        media.add_files({"name": "x", "text": "a", "content_length": "sometimes"})


def test_files_are_served_with_or_without_length_and_counted(media: StandIn) -> None:
    media.add_files({"name": "a.txt", "text": "olá", "mime": "text/plain"},
                    {"name": "b.bin", "size": 100_000, "content_length": "omit"})
    a = requests.get(f"{media.url}/files/a.txt", timeout=5)
    b = requests.get(f"{media.url}/files/b.bin", timeout=5)
    assert a.content == "olá".encode() and a.headers["Content-Length"] == str(len("olá".encode()))
    assert len(b.content) == 100_000 and "Content-Length" not in b.headers
    assert media.bytes_sent() == {"sent": {"a.txt": 4, "b.bin": 100_000}, "requests": {"a.txt": 1, "b.bin": 1}}
    assert requests.get(f"{media.url}/files/none", timeout=5).status_code == 404


def test_provider_endpoints_check_credentials(media: StandIn) -> None:
    media.add_files({"name": "c.jpg", "text": "x", "media_id": "55", "key_id": "K1"})
    lookup = requests.get(f"{media.url}/v21.0/55", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert lookup.status_code == 401 and lookup.json()["error"]["code"] == 190
    good = requests.get(f"{media.url}/v21.0/55", headers={"Authorization": f"Bearer {KEY}"}, timeout=5).json()
    assert good["url"].endswith("/files/c.jpg") and good["file_size"] == 1
    body = {"message": {"key": {"id": "K1"}}, "convertToMp4": False}
    assert requests.post(f"{media.url}/chat/getBase64FromMediaMessage/i", json=body, timeout=5).status_code == 401
    found = requests.post(f"{media.url}/chat/getBase64FromMediaMessage/i", json=body, headers={"apikey": KEY},
                          timeout=5)
    assert found.json()["base64"] == "eA=="
