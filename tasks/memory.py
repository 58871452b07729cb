"""Background work on a conversation's memory: the rolling summary."""

from __future__ import annotations

from sdr.llm import LLMTransientError
from sdr.summary import summarize_conversation
from tasks.app import app
from tasks.runtime import INFRASTRUCTURE_ERRORS, runtime

SUMMARY_RETRIES = 3


@app.task(name="sdr.memory.summarize", autoretry_for=(LLMTransientError, *INFRASTRUCTURE_ERRORS),
          retry_backoff=True, retry_backoff_max=60, retry_jitter=True, max_retries=SUMMARY_RETRIES)
def summarize(conversation_id: int) -> int | None:
    """Fold the conversation's older messages into its summary; the id the summary now covers."""
    summarized = summarize_conversation(runtime(), conversation_id)
    return summarized.through_id if summarized else None
