"""Where each provider keeps a lead's file, and how to get its bytes within the download limits.

A `MediaRef` locates the bytes in one of three ways: inline base64, a URL, or a provider media id.
URLs of most providers are plain downloads; a few need the provider's credentials or a lookup first:
- Meta Cloud API: `GET {graph}/{version}/{media_id}` with the bearer token answers JSON with a
  short-lived `url` (and the file size, checked before downloading), fetched with the same token.
- Evolution API: the `url` in the webhook is WhatsApp's encrypted CDN file, so the bytes come from
  `POST {api}/chat/getBase64FromMediaMessage/{instance}` with the message's key id.
- Twilio: media URLs answer to the account's basic auth when the Twilio channel is configured.
Provider settings are read from `settings.<provider>` when that group exists, so the channel
adapters' configuration is the one used; Meta falls back to `settings.media.meta_*`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any, Callable
from urllib.parse import quote

import requests

from sdr.downloads import Blob, DownloadError, Limits, MediaTooLarge, decode_base64, fetch
from sdr.settings import Settings

LOOKUP_BYTES = 64 * 1024  # a Graph media lookup answers a few hundred bytes of JSON
ENCRYPTED_HOSTS = ("mmg.whatsapp.net", "media.whatsapp.net")


@dataclass(frozen=True)
class Source:
    """One message's attachment, as stored."""

    provider: str
    channel_ref: str
    provider_message_id: str | None
    media: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.media.get(key)


Locator = Callable[[requests.Session, Settings, Source, Limits], Blob]


def fetch_media(session: requests.Session, settings: Settings, source: Source, limits: Limits) -> Blob:
    """The attachment's bytes; raises sdr.downloads errors (MediaTooLarge before reading too much)."""
    inline = source.get("base64")
    if isinstance(inline, str) and inline:
        return decode_base64(inline, limits.max_bytes)
    declared = source.get("size")
    if isinstance(declared, int) and declared > limits.max_bytes:
        raise MediaTooLarge(limits.max_bytes, declared)
    return LOCATORS.get(source.provider, locate_by_url)(session, settings, source, limits)


def locate_by_url(session: requests.Session, settings: Settings, source: Source, limits: Limits,
                  headers: dict[str, str] | None = None) -> Blob:
    url = source.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise DownloadError("the attachment has no downloadable URL")
    return fetch(session, url, limits, headers)


def locate_meta(session: requests.Session, settings: Settings, source: Source, limits: Limits) -> Blob:
    graph_url, version, token = _meta_settings(settings)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    media_id = source.get("provider_media_id")
    if not media_id:
        return locate_by_url(session, settings, source, limits, auth)
    lookup_url = f"{graph_url}/{version}/{quote(str(media_id), safe='')}"
    lookup = fetch(session, lookup_url, replace(limits, max_bytes=LOOKUP_BYTES), auth)
    answer = _json_object(lookup.data, "Graph media lookup")
    size = answer.get("file_size")
    if isinstance(size, int) and size > limits.max_bytes:
        raise MediaTooLarge(limits.max_bytes, size)
    if not isinstance(answer.get("url"), str):
        raise DownloadError("Graph media lookup answered without a url")
    blob = fetch(session, answer["url"], limits, auth)
    return Blob(blob.data, blob.mime or answer.get("mime_type"))


def locate_evolution(session: requests.Session, settings: Settings, source: Source, limits: Limits) -> Blob:
    url = source.get("url")
    if isinstance(url, str) and url and not any(host in url for host in ENCRYPTED_HOSTS):
        return locate_by_url(session, settings, source, limits)  # e.g. an S3 copy Evolution made
    evolution = settings.evolution
    key_id = source.get("provider_media_id") or source.provider_message_id
    if evolution is None or not key_id:
        raise DownloadError("Evolution media needs EVOLUTION_API_URL/KEY and the message key id")
    endpoint = f"{evolution.api_url}/chat/getBase64FromMediaMessage/{quote(source.channel_ref, safe='')}"
    body = {"message": {"key": {"id": key_id}}, "convertToMp4": False}
    # base64 is 4/3 of the bytes; the JSON around it is small.
    bounded = replace(limits, max_bytes=limits.max_bytes * 4 // 3 + LOOKUP_BYTES)
    answer = _json_object(fetch(session, endpoint, bounded, {"apikey": evolution.api_key}, "POST", body).data,
                          "getBase64FromMediaMessage")
    if not isinstance(answer.get("base64"), str):
        raise DownloadError("getBase64FromMediaMessage answered without base64")
    blob = decode_base64(answer["base64"], limits.max_bytes)
    return Blob(blob.data, blob.mime or answer.get("mimetype"))


def locate_twilio(session: requests.Session, settings: Settings, source: Source, limits: Limits) -> Blob:
    twilio = getattr(settings, "twilio", None)
    sid, token = getattr(twilio, "account_sid", None), getattr(twilio, "auth_token", None)
    headers = None
    if sid and token:
        headers = {"Authorization": "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()}
    return locate_by_url(session, settings, source, limits, headers)


def _meta_settings(settings: Settings) -> tuple[str, str, str]:
    meta = getattr(settings, "meta", None)
    media = settings.media
    graph_url = getattr(meta, "graph_url", None) or media.meta_graph_url
    version = getattr(meta, "graph_version", None) or getattr(meta, "api_version", None) or media.meta_graph_version
    token = getattr(meta, "access_token", None) or media.meta_access_token
    return str(graph_url).rstrip("/"), str(version), str(token or "")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise DownloadError(f"{what} did not answer JSON") from None
    if not isinstance(value, dict):
        raise DownloadError(f"{what} did not answer a JSON object")
    return value


LOCATORS: dict[str, Locator] = {
    "meta": locate_meta,
    "evolution": locate_evolution,
    "twilio": locate_twilio,
}
