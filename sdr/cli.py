"""`sdr` command line: seed a fresh installation, validate a playbook, import knowledge."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdr.agent.playbook import PlaybookError, load_playbook
from sdr.chips import ensure_env_chips
from sdr.db import session_scope
from sdr.knowledge import Imported, KnowledgeError, bump_knowledge_version, import_file, store_knowledge
from sdr.knowledge_files import parse_file
from sdr.redis_client import get_redis
from sdr.settings import REPO_ROOT, ConfigError, load_settings

EXAMPLE_KNOWLEDGE = REPO_ROOT / "playbooks" / "solar-knowledge.md"


def _seed(args: argparse.Namespace) -> str:
    settings = load_settings()
    playbook = load_playbook(settings.playbook_path)
    knowledge = Path(args.knowledge) if args.knowledge else EXAMPLE_KNOWLEDGE
    with session_scope(settings) as session:
        chips = ensure_env_chips(session, settings)
        imported = import_file(session, knowledge)
    if imported.added:
        bump_knowledge_version(get_redis(settings))
    return (f"playbook {playbook.source} ok ({playbook.business_name}); "
            f"{chips} chip(s) registered; {imported.added} knowledge section(s) added from {knowledge.name}")


def _check_playbook(args: argparse.Namespace) -> str:
    path = Path(args.path) if args.path else load_settings().playbook_path
    playbook = load_playbook(path)
    return f"playbook {playbook.source} ok: {len(playbook.products)} products, {len(playbook.slots)} slots"


def _import_knowledge(args: argparse.Namespace) -> str:
    settings = load_settings()
    path = Path(args.path)
    sections = parse_file(path)  # the whole file is checked before anything is stored
    imported = store_knowledge(lambda: session_scope(settings), get_redis(settings), sections,
                               args.source or path.name, replace=args.replace)
    return describe_import(imported)


def describe_import(imported: Imported) -> str:
    return (f"source {imported.source!r}: {imported.added} section(s) added, {imported.removed} removed, "
            f"{imported.unchanged} unchanged")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="register chips, validate the playbook, import example knowledge")
    seed.add_argument("--knowledge", help="Markdown file to import (default: the solar example)")
    seed.set_defaults(run=_seed)
    check = commands.add_parser("check-playbook", help="validate a playbook file (default: SDR_PLAYBOOK)")
    check.add_argument("path", nargs="?")
    check.set_defaults(run=_check_playbook)
    knowledge = commands.add_parser("import-knowledge", help="import a Markdown or CSV (title,body[,tags]) file")
    knowledge.add_argument("path")
    knowledge.add_argument("--source", help="name the documents are stored under (default: the file's name)")
    knowledge.add_argument("--replace", action="store_true",
                           help="swap the source's documents for the file's, atomically")
    knowledge.set_defaults(run=_import_knowledge)
    args = parser.parse_args(argv)
    try:
        print(args.run(args))
    except (PlaybookError, ConfigError, KnowledgeError, OSError) as exc:
        print(f"sdr {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
