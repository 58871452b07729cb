"""Simulated provider prompt caching for the LLM stand-in.

Like OpenAI, a request gets ``cached_tokens`` for the longest prefix of its prompt that an earlier request
already sent, counted in whole blocks (64 characters here) and only once that prefix reaches 1024 characters.
Only one short hash per block prefix is kept, so the cost is one hash update per 64 characters.
"""

from __future__ import annotations

import hashlib

BLOCK_CHARS = 64
MIN_CACHED_CHARS = 1024
# Bounded memory for long benchmark runs: forgetting everything is what an evicted provider cache does too.
MAX_ENTRIES = 400_000


class PromptCache:
    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def clear(self) -> None:
        self._seen.clear()

    def observe(self, prompt: str) -> int:
        """Return how many leading characters of ``prompt`` count as cached, then remember its prefixes."""
        running = hashlib.blake2b(digest_size=12)
        cached_chars = 0
        still_matching = True
        prefixes: list[bytes] = []
        for end in range(BLOCK_CHARS, len(prompt) + 1, BLOCK_CHARS):
            running.update(prompt[end - BLOCK_CHARS:end].encode("utf-8"))
            digest = running.digest()  # hashlib allows digest() mid-stream; the running state is kept
            if still_matching and digest in self._seen:
                cached_chars = end
            else:
                still_matching = False
            prefixes.append(digest)
        if len(self._seen) + len(prefixes) > MAX_ENTRIES:
            self._seen.clear()
        self._seen.update(prefixes)
        return cached_chars if cached_chars >= MIN_CACHED_CHARS else 0
