"""Small helpers for scripts/dev.sh: service checks, database creation, ports, secrets.

Run with the project's virtualenv Python (it needs psycopg and redis):

    .venv/bin/python scripts/devtool.py <command> [args]

Every command exits 0 on success and 1 with a one-line reason on stderr otherwise.
Nothing here prints a password: URLs are shown through `redact()`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit, urlunsplit


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style `postgresql+psycopg://` as well as `postgres://` / `postgresql://`."""
    return re.sub(r"^postgres(ql)?(\+[a-z0-9_]+)?://", "postgresql://", url)


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def pg_connect(url: str, timeout: float = 3.0):
    import psycopg

    return psycopg.connect(_libpq_url(url), connect_timeout=max(1, int(timeout)), autocommit=True)


def cmd_pg_check(args: argparse.Namespace) -> int:
    try:
        with pg_connect(args.url, args.timeout) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable", with its reason
        return _fail(_one_line(exc))
    return 0


def cmd_pg_ensure_db(args: argparse.Namespace) -> int:
    """Create the URL's database if it does not exist (connecting to a maintenance database first)."""
    import psycopg
    from psycopg import sql

    url = _libpq_url(args.url)
    dbname = urlsplit(url).path.lstrip("/") or "postgres"
    try:
        with pg_connect(url) as conn:
            conn.execute("SELECT 1")
        print(f"database {dbname}: exists")
        return 0
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return _fail(_one_line(exc))
    last_error: BaseException | None = None
    for maintenance in ("postgres", "template1"):
        try:
            with pg_connect(with_database(url, maintenance)) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                    print(f"database {dbname}: created")
                else:
                    print(f"database {dbname}: exists")
                return 0
        except Exception as exc:  # noqa: BLE001
            last_error = exc
    return _fail(f"could not create database {dbname}: {_one_line(last_error) if last_error else 'unknown error'}")


def cmd_redis_check(args: argparse.Namespace) -> int:
    import redis

    try:
        client = redis.Redis.from_url(args.url, socket_timeout=args.timeout, socket_connect_timeout=args.timeout)
        if not client.ping():
            return _fail("PING did not answer PONG")
    except Exception as exc:  # noqa: BLE001
        return _fail(_one_line(exc))
    return 0


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers we are about to start: a port whose old connections linger in
        # TIME_WAIT is free; one with a listener is not (Linux refuses that bind even so).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def cmd_port_free(args: argparse.Namespace) -> int:
    return 0 if port_is_free(args.port) else _fail(f"port {args.port} is in use")


def cmd_free_port(args: argparse.Namespace) -> int:
    for port in range(args.start, args.start + args.tries):
        if port_is_free(port):
            print(port)
            return 0
    return _fail(f"no free port in {args.start}..{args.start + args.tries - 1}")


def cmd_secret(args: argparse.Namespace) -> int:
    print(secrets.token_hex(args.bytes))
    return 0


def cmd_redact(args: argparse.Namespace) -> int:
    print(redact(args.url))
    return 0


def cmd_with_db(args: argparse.Namespace) -> int:
    print(with_database(args.url, args.dbname))
    return 0


def _http_answers(url: str) -> bool:
    """True if anything answers HTTP at `url` (any status: the server is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def cmd_wait_http(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if _http_answers(args.url):
            return 0
        time.sleep(0.25)
    return _fail(f"nothing answered at {args.url} within {args.timeout:.0f}s")


def sandbox_url(port: int) -> str:
    """The sandbox chat URL; the page asks for SDR_SANDBOX_SECRET (a development secret) in the query."""
    secret = os.environ.get("SDR_SANDBOX_SECRET", "")
    query = f"?secret={quote(secret, safe='')}" if secret else ""
    return f"http://127.0.0.1:{port}/sandbox{query}"


def cmd_sandbox_url(args: argparse.Namespace) -> int:
    print(sandbox_url(args.port))
    return 0


def cmd_announce(args: argparse.Namespace) -> int:
    """Wait for the web process, print where to go, then stay idle (honcho stops all when one exits)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + args.timeout
    up = False
    while time.monotonic() < deadline:
        if _http_answers(args.url):
            up = True
            break
        time.sleep(0.5)
    if up:
        print(f"sdr is up. Chat with the bot at {sandbox_url(args.port)}", flush=True)
    else:
        print(f"web did not answer at {args.url} within {args.timeout:.0f}s; see the web lines above", flush=True)
    while True:
        signal.pause()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devtool")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pg-check", help="connect to a Postgres URL")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_pg_check)

    p = sub.add_parser("pg-ensure-db", help="create the URL's database if missing")
    p.add_argument("url")
    p.set_defaults(func=cmd_pg_ensure_db)

    p = sub.add_parser("redis-check", help="PING a Redis URL")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_redis_check)

    p = sub.add_parser("port-free", help="exit 0 if a TCP port on 127.0.0.1 can be bound")
    p.add_argument("port", type=int)
    p.set_defaults(func=cmd_port_free)

    p = sub.add_parser("free-port", help="print the first bindable port from START")
    p.add_argument("start", type=int)
    p.add_argument("--tries", type=int, default=50)
    p.set_defaults(func=cmd_free_port)

    p = sub.add_parser("secret", help="print a random hex token")
    p.add_argument("--bytes", type=int, default=24)
    p.set_defaults(func=cmd_secret)

    p = sub.add_parser("redact", help="print a URL with its password masked")
    p.add_argument("url")
    p.set_defaults(func=cmd_redact)

    p = sub.add_parser("with-db", help="print a URL with its database (path) replaced")
    p.add_argument("url")
    p.add_argument("dbname")
    p.set_defaults(func=cmd_with_db)

    p = sub.add_parser("wait-http", help="wait until something answers HTTP at URL")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_wait_http)

    p = sub.add_parser("sandbox-url", help="print the sandbox chat URL for a web port")
    p.add_argument("port", type=int)
    p.set_defaults(func=cmd_sandbox_url)

    p = sub.add_parser("announce", help="wait for URL, print the sandbox URL for PORT, then idle")
    p.add_argument("url")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=180.0)
    p.set_defaults(func=cmd_announce)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
