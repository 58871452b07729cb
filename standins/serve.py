"""Command line and gevent server loop for the stand-ins (``python -m standins <kind> ...``).

Prints exactly one line, ``stand-in <kind> listening on http://HOST:PORT``, once the socket is bound, so a
parent process (``standins.launch``) can learn the port when ``--port 0`` asked for a free one. SIGTERM and
SIGINT stop the server cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIServer

from standins import evolution, llm, media, meta, twilio, zapi

APPS: dict[str, Callable[[float, str | None, int], Callable[..., Any]]] = {
    "llm": llm.build_app,
    "evolution": evolution.build_app,
    "zapi": zapi.build_app,
    "twilio": twilio.build_app,
    "meta": meta.build_app,
    "media": media.build_app,
}
# Large enough for the benchmark's bursts of hundreds of simultaneous connections.
BACKLOG = 2048


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m standins", description="Local HTTP stand-ins for sdr.")
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API call")
    parser.add_argument("--api-key", default=None,
                        help="llm: required bearer token (any non-empty one if omitted); "
                             f"evolution: apikey header (default {evolution.DEFAULT_API_KEY}); "
                             f"zapi: instance token (default {zapi.DEFAULT_TOKEN}); "
                             f"twilio: auth token (default {twilio.DEFAULT_AUTH_TOKEN}); "
                             f"meta: bearer token (default {meta.DEFAULT_TOKEN}); "
                             "media: bearer/apikey of its Meta and Evolution endpoints "
                             f"(default {media.DEFAULT_API_KEY})")
    parser.add_argument("--max-records", type=int, default=10_000, help="recorded requests kept (oldest dropped)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = APPS[args.kind](args.latency, args.api_key, args.max_records)
    # log=None: an access-log line per request would cost more CPU than serving it.
    server = WSGIServer((args.host, args.port), app, log=None, error_log=sys.stderr, backlog=BACKLOG)
    server.start()
    host, port = server.address[0], server.server_port
    print(f"stand-in {args.kind} listening on http://{host}:{port}", flush=True)
    stopping = Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stopping.set)
    stopping.wait()
    server.stop(timeout=1)
    return 0
