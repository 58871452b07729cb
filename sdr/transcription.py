"""Speech to text for leads' voice notes, through the OpenAI-compatible `POST /audio/transcriptions`.

Uses the process's shared client (sdr.llm: no hidden SDK retries, its timeout) and the same error
classes, so the task decides about retries exactly as for chat calls.
"""

from __future__ import annotations

import openai

from sdr.llm import TRANSIENT, LLMError, LLMTransientError

# Whisper-style endpoints pick the decoder from the file name's extension.
EXTENSIONS = {"audio/ogg": "ogg", "audio/opus": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mp4": "m4a",
              "audio/m4a": "m4a", "audio/x-m4a": "m4a", "audio/aac": "m4a", "audio/amr": "amr", "audio/wav": "wav",
              "audio/x-wav": "wav", "audio/webm": "webm", "audio/flac": "flac"}


def transcribe_audio(client: openai.OpenAI, model: str, language: str, data: bytes, mime: str | None,
                     filename: str | None = None) -> str:
    """The transcript of `data` (may be empty if nothing was said); raises LLMTransientError or LLMError."""
    name = filename or f"audio.{EXTENSIONS.get((mime or '').split(';')[0].strip(), 'ogg')}"
    try:
        answer = client.audio.transcriptions.create(model=model, file=(name, data, mime or "audio/ogg"),
                                                    language=language or openai.NOT_GIVEN, response_format="json")
    except TRANSIENT as exc:
        raise LLMTransientError(f"{type(exc).__name__}: {_brief(exc)}") from None
    except openai.OpenAIError as exc:
        raise LLMError(f"{type(exc).__name__}: {_brief(exc)}") from None
    return (getattr(answer, "text", None) or "").strip()


def _brief(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else "no detail"
