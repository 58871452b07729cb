"""Fake LLM + webhook server for the pool benchmark (gevent pywsgi, one process).

    POST /v1/chat/completions  sleeps X-Delay seconds (default --delay) and returns a chat.completion
    POST /hook                 sleeps ?delay= seconds (default 0) and returns {"ok": true}
    GET  /stats                counters: requests, max requests in flight, TCP connections accepted
    POST /reset                zero the counters

Usage: python bench/pools/fake_llm.py --port 18765 [--delay 1.0]
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

DEFAULT_DELAY = 1.0
STATS: dict[str, int] = {}


def reset_stats() -> None:
    STATS.update(connections=0, llm=0, llm_inflight=0, llm_max_inflight=0,
                 hook=0, hook_inflight=0, hook_max_inflight=0)


class CountingHandler(WSGIHandler):
    """One instance per accepted TCP connection (it serves all keep-alive requests on it)."""

    def handle(self):
        STATS["connections"] += 1
        # pywsgi writes headers and body separately: without NODELAY, Nagle + delayed ACK add 40 ms.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().handle()


def _json(start_response, body: dict, status: str = "200 OK"):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _timed(kind: str, delay: float) -> None:
    STATS[kind] += 1
    STATS[f"{kind}_inflight"] += 1
    STATS[f"{kind}_max_inflight"] = max(STATS[f"{kind}_max_inflight"], STATS[f"{kind}_inflight"])
    try:
        if delay > 0:
            gevent.sleep(delay)
    finally:
        STATS[f"{kind}_inflight"] -= 1


def chat_completion(environ, start_response):
    req = json.loads(environ["wsgi.input"].read() or b"{}")
    _timed("llm", float(environ.get("HTTP_X_DELAY", DEFAULT_DELAY)))
    now = int(time.time())
    return _json(start_response, {
        "id": f"chatcmpl-fake{STATS['llm']}",
        "object": "chat.completion",
        "created": now,
        "model": req.get("model", "fake"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Olá! Posso te ajudar com a energia solar?",
                        "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54},
    })


def hook(environ, start_response):
    environ["wsgi.input"].read()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    _timed("hook", float(query.get("delay", ["0"])[0]))
    return _json(start_response, {"ok": True})


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if method == "POST" and path == "/v1/chat/completions":
        return chat_completion(environ, start_response)
    if method == "POST" and path == "/hook":
        return hook(environ, start_response)
    if method == "GET" and path == "/stats":
        return _json(start_response, STATS)
    if method == "POST" and path == "/reset":
        reset_stats()
        return _json(start_response, STATS)
    return _json(start_response, {"error": "not found"}, "404 Not Found")


def main() -> None:
    global DEFAULT_DELAY
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY, help="LLM latency in seconds")
    args = parser.parse_args()
    DEFAULT_DELAY = args.delay
    reset_stats()
    server = WSGIServer((args.host, args.port), app, handler_class=CountingHandler,
                        backlog=4096, log=None)
    server.serve_forever()


if __name__ == "__main__":
    main()
