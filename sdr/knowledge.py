"""The business's own knowledge: imported from Markdown, searched in Portuguese without accents."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sdr.models import KnowledgeDocument


@dataclass(frozen=True)
class Section:
    title: str
    body: str


def parse_markdown(content: str) -> list[Section]:
    """One section per heading; text before the first heading is ignored."""
    sections: list[Section] = []
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*$\n(.*?)(?=^#{1,6}\s|\Z)", content, re.MULTILINE | re.DOTALL):
        body = " ".join(match.group(2).split())
        if body:
            sections.append(Section(match.group(1).strip(), body))
    return sections


def import_markdown(session: Session, path: Path) -> int:
    """Add the file's sections (unchanged ones are skipped by content hash); returns how many were new."""
    sections = parse_markdown(path.read_text(encoding="utf-8"))
    if not sections:
        return 0
    rows = [{"source": path.name, "title": s.title, "body": s.body,
             "content_hash": hashlib.sha256(f"{s.title}\n{s.body}".encode()).hexdigest()} for s in sections]
    statement = (insert(KnowledgeDocument).values(rows).on_conflict_do_nothing(index_elements=["content_hash"])
                 .returning(KnowledgeDocument.id))
    return len(session.execute(statement).all())


_SEARCH = text("""
SELECT title, body FROM knowledge_documents, websearch_to_tsquery('sdr_portuguese', :q) AS q
WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT :limit
""")


def search_knowledge(session: Session, query: str, limit: int = 3) -> list[Section]:
    if not query.strip():
        return []
    return [Section(r.title, r.body) for r in session.execute(_SEARCH, {"q": query, "limit": limit})]
