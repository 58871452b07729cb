"""Minimal WSGI plumbing shared by the stand-ins: method+path routing and JSON request/response helpers.

Plain werkzeug instead of a framework keeps the CPU cost per request low, which matters when the benchmark holds
hundreds of slow calls open against one stand-in process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

Handler = Callable[..., Response]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialize ``payload`` as a UTF-8 JSON response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status=status, headers=headers, content_type="application/json")


def read_json(request: Request) -> tuple[Any, str | None]:
    """Parse the request body as JSON; return ``(value, None)`` or ``(None, reason)``."""
    raw = request.get_data(cache=True)
    if not raw:
        return None, "empty body"
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"invalid JSON: {exc}"


class Router:
    """Dispatch ``(method, path)`` to a handler; ``{name}`` segments in a path become keyword arguments."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        if "{" not in path:
            self._exact[(method, path)] = handler
            return
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        self._patterns.append((method, re.compile(f"^{regex}$"), handler))

    def _match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        handler = self._exact.get((method, path))
        if handler is not None:
            return handler, {}, True
        path_known = any(p == path for (_, p) in self._exact)
        for wanted, pattern, candidate in self._patterns:
            found = pattern.match(path)
            if found and wanted == method:
                return candidate, found.groupdict(), True
            path_known = path_known or bool(found)
        return None, {}, path_known

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        handler, params, path_known = self._match(request.method, path)
        if handler is not None:
            response = handler(request, **params)
        elif path_known:
            response = json_response({"error": "method not allowed"}, 405)
        else:
            response = json_response({"error": f"no route for {request.method} {path}"}, 404)
        return response(environ, start_response)
