"""OpenAI-compatible LLM stand-in: ``/v1/chat/completions``, ``/v1/audio/transcriptions`` and ``/v1/models``.

Chat calls are classified as ``analysis`` (``response_format`` of type ``json_schema`` or ``json_object``),
``vision`` (a message carries ``image_url`` parts) or ``reply`` (plain chat). Analyses return JSON built from the
request's schema (``standins.schema_fill``) steered by the lead's latest text (``standins.signals``); replies
and image descriptions come from ``standins.phrasing``. Outputs are deterministic. Usage is estimated at about
four characters per token, with ``cached_tokens`` from ``standins.prompt_cache``. Authentication, validation
and error bodies follow OpenAI's shapes so the real ``openai`` client raises its usual exceptions. Streaming
(``stream: true``) and tool calls are not simulated: streaming requests get a 400, tools are ignored.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from standins import chat_input, phrasing
from standins.control import Call, Control, add_control_routes
from standins.prompt_cache import PromptCache
from standins.schema_fill import fill
from standins.signals import read
from standins.wsgi import Router, json_response, read_json

KINDS = ("analysis", "reply", "vision", "transcription")
MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o-transcribe", "whisper-1")
HEADERS = ("Authorization", "Content-Type", "User-Agent", "X-Stainless-Retry-Count", "Idempotency-Key")
SERVER_ERRORS = {
    429: ("Rate limit reached", "requests", "rate_limit_exceeded"),
    500: ("The server had an error", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


def error_body(status: int, message: str | None = None, kind: str | None = None, param: str | None = None,
               code: str | None = None) -> Response:
    default_message, default_type, default_code = SERVER_ERRORS.get(status, ("Request failed", None, None))
    error = {"message": message or default_message,
             "type": kind or default_type or ("invalid_request_error" if status < 500 else "server_error"),
             "param": param, "code": code if code is not None else default_code}
    # The real API sends retry-after on rate limits; clients (and our retry code) read it.
    headers = {"retry-after": "1"} if status == 429 else {}
    return json_response({"error": error}, status, headers)


def check_auth(request: Request, api_key: str | None) -> Response | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    if not token:
        return error_body(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                               "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                          "invalid_request_error")
    if api_key is not None and token != api_key:
        shown = token[:3] + "*" * 4 + token[-4:] if len(token) > 8 else "*" * len(token)
        return error_body(401, f"Incorrect API key provided: {shown}.", "invalid_request_error",
                          code="invalid_api_key")
    return None


def classify(body: Any) -> str:
    if not isinstance(body, dict):
        return "reply"
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object"):
        return "analysis"
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    return "vision" if chat_input.images([m for m in messages if isinstance(m, dict)]) else "reply"


def validate_chat(body: Any, problem: str | None) -> Response | None:
    if problem is not None or not isinstance(body, dict):
        return error_body(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                               "aren't using your HTTP library correctly.)", "invalid_request_error")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_body(400, "you must provide a model parameter", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return error_body(400, "[] is too short - 'messages'", "invalid_request_error", "messages", "empty_array")
    if body.get("stream"):
        # Refuse loudly rather than answer a streaming client with a body it cannot parse.
        return error_body(400, "stream=true is not supported by this stand-in", "invalid_request_error", "stream")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict) or not spec.get("name"):
            return error_body(400, "Missing required parameter: 'response_format.json_schema'.",
                              "invalid_request_error", "response_format.json_schema", "missing_required_parameter")
    return None


def chat_content(kind: str, body: dict[str, Any]) -> str:
    messages: list[dict[str, Any]] = body["messages"]
    user_text = chat_input.last_user_text(messages)
    if kind == "analysis":
        reading = read(user_text)
        response_format = body["response_format"]
        if response_format["type"] == "json_object":
            return json.dumps({"summary": reading.text_for("summary")}, ensure_ascii=False)
        return json.dumps(fill(response_format["json_schema"]["schema"], reading), ensure_ascii=False)
    if kind == "vision":
        return "\n".join(phrasing.describe_image(i.data, i.url) for i in chat_input.images(messages))
    return phrasing.reply_text(user_text, chat_input.system_prompt(messages))


class LlmStandIn:
    def __init__(self, control: Control, api_key: str | None) -> None:
        self.control = control
        self.api_key = api_key
        self.cache = PromptCache()
        self._ids = itertools.count(1)

    def completion(self, body: dict[str, Any], content: str) -> Response:
        prompt = chat_input.serialized(body["model"], body["messages"])
        prompt_tokens = max(1, math.ceil(len(prompt) / 4))
        completion_tokens = max(1, math.ceil(len(content) / 4))
        cached = self.cache.observe(prompt) // 4
        ident = hashlib.sha256(f"{next(self._ids)}:{prompt}".encode()).hexdigest()[:29]
        return json_response({
            "id": f"chatcmpl-{ident}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_standin", "service_tier": "default",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": min(cached, prompt_tokens), "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
        }, headers={"x-request-id": f"req_{ident}"})

    def chat(self, request: Request) -> Response:
        body, problem = read_json(request)
        kind = classify(body)
        rejection = check_auth(request, self.api_key) or validate_chat(body, problem)

        def produce(script: dict[str, Any] | None) -> Response:
            return self.completion(body, script["content"] if script else chat_content(kind, body))

        return self.control.serve(Call(kind, request, body, rejection=rejection), error_body, produce)

    def transcription(self, request: Request) -> Response:
        upload = request.files.get("file")
        data = upload.read() if upload is not None else b""
        form = {k: request.form.get(k) for k in ("model", "language", "response_format", "prompt")}
        recorded = {**form, "file_name": upload.filename if upload else None, "file_bytes": len(data)}
        rejection = check_auth(request, self.api_key)
        if rejection is None and upload is None:
            rejection = error_body(400, "Missing required parameter: 'file'.", "invalid_request_error", "file")
        if rejection is None and not form["model"]:
            rejection = error_body(400, "Missing required parameter: 'model'.", "invalid_request_error", "model")

        def produce(script: dict[str, Any] | None) -> Response:
            text = script["content"] if script else phrasing.transcript(data)
            return transcription_response(text, form["response_format"] or "json", form["language"], len(data))

        call = Call("transcription", request, recorded, rejection=rejection)
        return self.control.serve(call, error_body, produce)

    def models(self, request: Request) -> Response:
        rejection = check_auth(request, self.api_key)
        if rejection is not None:
            return rejection
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "stand-in"} for m in MODELS]
        return json_response({"object": "list", "data": data})


def transcription_response(text: str, response_format: str, language: str | None, size: int) -> Response:
    if response_format in ("text", "srt", "vtt"):
        return Response(text, content_type="text/plain; charset=utf-8")
    if response_format == "verbose_json":
        duration = round(size / 4000, 2)  # as if ~32 kbit/s audio
        return json_response({"task": "transcribe", "language": language or "portuguese", "duration": duration,
                              "text": text, "segments": []})
    return json_response({"text": text})


def build_app(latency: float, api_key: str | None, max_records: int) -> Callable[..., Any]:
    control = Control("llm", KINDS, latency, HEADERS, max_records)
    stand_in = LlmStandIn(control, api_key)
    router = Router()
    control.reset_hooks.append(stand_in.cache.clear)
    add_control_routes(router, control)

    def script(request: Request) -> Response:
        body, problem = read_json(request)
        problem = problem or control.add_scripts(body, KINDS)
        if problem:
            return json_response({"ok": False, "error": problem}, 400)
        return json_response({"ok": True, "pending_scripts": len(control.scripts)})

    router.add("POST", "/_control/script", script)
    router.add("POST", "/v1/chat/completions", stand_in.chat)
    router.add("POST", "/v1/audio/transcriptions", stand_in.transcription)
    router.add("GET", "/v1/models", stand_in.models)
    return router
