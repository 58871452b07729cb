"""Knowledge files: Markdown (one section per heading), CSV (`title,body[,tags]`) and JSON lists.

Parsing checks the whole input before anything is stored and reports every bad row with its
line (or item) and column, so an operator fixes a file in one go.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 20_000
MAX_PROBLEMS = 20
COLUMNS = ("title", "body", "tags")
FORMATS = ("markdown", "csv", "json")


class KnowledgeError(ValueError):
    """The input cannot be imported; `problems` names each bad line/item and column."""

    def __init__(self, problems: list[str]):
        self.problems = problems[:MAX_PROBLEMS]
        more = len(problems) - len(self.problems)
        super().__init__("; ".join(self.problems) + (f"; and {more} more" if more > 0 else ""))


@dataclass(frozen=True)
class Section:
    title: str
    body: str
    tags: str = ""  # comma-separated words that weigh like the title in searches


def parse_markdown(content: str) -> list[Section]:
    """One section per heading; text before the first heading is ignored."""
    sections: list[Section] = []
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*$\n(.*?)(?=^#{1,6}\s|\Z)", content, re.MULTILINE | re.DOTALL):
        body = " ".join(match.group(2).split())
        if body:
            sections.append(Section(match.group(1).strip(), body))
    return sections


def _check(title: str, body: str, where: str) -> list[str]:
    problems = []
    if not title:
        problems.append(f"{where}, column title: empty")
    elif len(title) > MAX_TITLE_CHARS:
        problems.append(f"{where}, column title: longer than {MAX_TITLE_CHARS} characters")
    if not body:
        problems.append(f"{where}, column body: empty")
    elif len(body) > MAX_BODY_CHARS:
        problems.append(f"{where}, column body: longer than {MAX_BODY_CHARS} characters")
    return problems


def _tags(value: Any) -> str:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return ", ".join(t.strip() for t in str(value or "").split(",") if t.strip())


def _header(reader: Any) -> list[str]:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise KnowledgeError(["line 1: the file is empty; expected a header row title,body[,tags]"]) from None
    problems = [f"line 1, column {n}: unknown column {h!r} (expected title, body, tags)"
                for n, h in enumerate(header, 1) if h not in COLUMNS]
    problems += [f"line 1: missing column {c!r}" for c in ("title", "body") if c not in header]
    problems += [f"line 1: column {h!r} appears twice" for h in set(header) if header.count(h) > 1]
    if problems:
        raise KnowledgeError(problems)
    return header


def parse_csv(content: str) -> list[Section]:
    """A header row names the columns (title, body, optional tags); `;` works as separator too, as
    spreadsheets in Brazil write it."""
    content = content.lstrip("\ufeff")
    first_line = content.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    try:
        header = _header(reader)
        sections, problems, start = [], [], reader.line_num + 1
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(f"{where}: expected {len(header)} columns, found {len(row)}")
                continue
            values = dict(zip(header, row, strict=True))
            title, body = values["title"].strip(), " ".join(values["body"].split())
            found = _check(title, body, where)
            problems += found
            if not found:
                sections.append(Section(title, body, _tags(values.get("tags"))))
    except csv.Error as exc:
        raise KnowledgeError([f"line {reader.line_num}: {exc}"]) from None
    if problems:
        raise KnowledgeError(problems)
    return sections


def parse_entries(data: Any) -> list[Section]:
    """A JSON list of {"title", "body", "tags"?} objects; tags may be a string or a list."""
    if not isinstance(data, list):
        raise KnowledgeError(["expected a JSON list of {title, body, tags} objects"])
    sections, problems = [], []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            problems.append(f"item {n}: expected an object with title and body")
            continue
        problems += [f"item {n}, column {k}: unknown field" for k in item if k not in COLUMNS]
        title, body = item.get("title"), item.get("body")
        if not isinstance(title, str) or not isinstance(body, str):
            problems.append(f"item {n}: title and body must be text")
            continue
        found = _check(title.strip(), " ".join(body.split()), f"item {n}")
        problems += found
        if not found:
            sections.append(Section(title.strip(), " ".join(body.split()), _tags(item.get("tags"))))
    if problems:
        raise KnowledgeError(problems)
    return sections


def parse_content(content: str, fmt: str) -> list[Section]:
    """Parse text in one of FORMATS; an input without any section is an error, not an empty import."""
    if fmt == "csv":
        sections = parse_csv(content)
    elif fmt == "markdown":
        sections = parse_markdown(content)
    else:
        raise KnowledgeError([f"unknown format {fmt!r} (expected markdown or csv)"])
    if not sections:
        raise KnowledgeError(["no sections found" + (" (Markdown needs '# Title' headings followed by text)"
                                                      if fmt == "markdown" else "")])
    return sections


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown", ".txt"):
        return "markdown"
    if suffix == ".csv":
        return "csv"
    raise KnowledgeError([f"{path.name}: unknown file type {suffix or '(none)'!r}; use .md or .csv"])


def parse_file(path: Path) -> list[Section]:
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeError([f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return parse_content(content, format_of(path))
