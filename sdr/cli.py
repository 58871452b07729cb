"""`sdr` command line: seed a fresh installation, validate a playbook, import knowledge."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdr.agent.playbook import PlaybookError, load_playbook
from sdr.addresses import mask
from sdr.chips import ChipError, NewChip, add_chip, ensure_env_chips, list_chips
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
    return (f"playbook {playbook.source} ok: {playbook.company.name}, {len(playbook.products)} products, "
            f"{playbook.qualification.method} with {len(playbook.slots)} slots, {len(playbook.stages)} stages, "
            f"{len(playbook.follow_up.steps)} follow-up steps, hours in {playbook.hours.timezone}")


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


def _add_chip(args: argparse.Namespace) -> str:
    settings = load_settings()
    chip = NewChip(provider=args.provider, external_id=args.external_id, phone=args.phone, name=args.name,
                   hourly_cap=args.hourly_cap, daily_cap=args.daily_cap, credentials_ref=args.credentials)
    with session_scope(settings) as session:
        chip_id = add_chip(session, chip)
    note = "" if not args.credentials or args.credentials in settings.chip_secrets else (
        f" (set {args.credentials} in the environment of the worker before it sends)")
    return f"chip {chip_id} added: {args.provider} {args.external_id}{note}"


def _list_chips(args: argparse.Namespace) -> str:
    with session_scope(load_settings()) as session:
        chips = list_chips(session)
    lines = [f"{c.id}\t{c.provider}\t{c.external_id}\t{mask(c.phone)}\t{c.status}\t"
             f"hourly={c.hourly_cap if c.hourly_cap is not None else '-'}\t"
             f"daily={c.daily_cap if c.daily_cap is not None else '-'}\t{c.credentials_ref or '(default)'}"
             for c in chips]
    return "\n".join(lines) or "no chips"


def _chip_commands(commands: argparse._SubParsersAction) -> None:
    chips = commands.add_parser("chips", help="list or add WhatsApp numbers (chips)").add_subparsers(
        dest="chips_command", required=True)
    chips.add_parser("list", help="list the chips").set_defaults(run=_list_chips)
    add = chips.add_parser("add", help="add a chip")
    add.add_argument("provider", help="evolution, meta, zapi, twilio")
    add.add_argument("external_id", help="Meta phone number id, Evolution instance, ...")
    add.add_argument("--phone", help="the number, E.164")
    add.add_argument("--name")
    add.add_argument("--hourly-cap", type=int, help="most messages sent per clock hour")
    add.add_argument("--daily-cap", type=int, help="most messages sent per day (São Paulo time)")
    add.add_argument("--credentials", help="name of the environment variable with the chip's token "
                                           "(SDR_CHIP_SECRET_...); never the token itself")
    add.set_defaults(run=_add_chip)


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
    _chip_commands(commands)
    args = parser.parse_args(argv)
    try:
        print(args.run(args))
    except (PlaybookError, ConfigError, KnowledgeError, ChipError, OSError) as exc:
        print(f"sdr {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
