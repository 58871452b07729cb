"""Status callbacks on demand: a stand-in POSTs, in its provider's real format, to a webhook URL.

Tests call ``POST /_control/status_callback`` on a provider stand-in; the stand-in builds the
provider's callback body, sends it (JSON or form, signed when the provider signs) and answers
with what the webhook said, so a test can drive "the provider reports delivered/read/failed".
"""

from __future__ import annotations

from typing import Any

import requests
from werkzeug.wrappers import Response

from standins.wsgi import json_response

TIMEOUT = 10.0


def deliver(url: str, *, json: Any = None, form: list[tuple[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    try:
        answer = requests.post(url, json=json, data=form, headers=headers or {}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return json_response({"ok": False, "error": f"webhook unreachable: {type(exc).__name__}"}, 502)
    return json_response({"ok": answer.status_code < 300, "status": answer.status_code, "body": answer.text[:500]})


def bad_request(problem: str) -> Response:
    return json_response({"ok": False, "error": problem}, 400)
