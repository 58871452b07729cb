"""Local HTTP stand-ins for the external services sdr talks to.

Each stand-in speaks the real wire format of its provider so that the real clients (the ``openai`` package,
our ``requests`` code) run against it unchanged:

- ``llm``: an OpenAI-compatible server (chat completions with JSON-schema analyses, plain replies and vision,
  audio transcriptions, model list) with deterministic outputs and simulated prompt caching;
- ``evolution``: the Evolution API v2 endpoints sdr uses to send WhatsApp messages.

Both share a ``/_control`` API (records, statistics, latency, scripted outputs and injected faults) used by
tests, the benchmark and the offline demo. Start one with ``python -m standins <kind> --port 0`` or, from
Python, with :func:`standins.launch.start`.
"""
