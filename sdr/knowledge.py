"""The business's own knowledge: stored per source, searched in Portuguese without accents, cached.

Files are parsed by `sdr.knowledge_files`; this module writes whole sources at once (a bad file
changes nothing, `replace` swaps a source in one statement) and answers searches. Search
results are cached in Redis under the knowledge version: every change bumps the version with
one command after its commit, so a result computed from older documents is never read again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

import redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.knowledge_files import KnowledgeError, Section, parse_file

VERSION_KEY = "sdr:kb:version"
RESULT_TTL_SECONDS = 600  # a bound on staleness should the version bump itself ever be lost

_IMPORT = text("""
WITH new AS (
    SELECT * FROM unnest(CAST(:titles AS text[]), CAST(:bodies AS text[]), CAST(:tags AS text[]),
                         CAST(:hashes AS text[])) AS n(title, body, tags, content_hash)
),
gone AS (
    DELETE FROM knowledge_documents
    WHERE source = :source AND :replace AND content_hash NOT IN (SELECT content_hash FROM new)
    RETURNING id
),
added AS (
    INSERT INTO knowledge_documents (source, title, body, tags, content_hash)
    SELECT :source, title, body, tags, content_hash FROM new
    ON CONFLICT (source, content_hash) DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM gone) AS removed
""")

_DELETE = text("DELETE FROM knowledge_documents WHERE source = :source")

_SOURCES = text("SELECT source, count(*) AS documents FROM knowledge_documents GROUP BY source ORDER BY source")

# Any word of the question may match (OR), and documents matching more of them, or matching them
# in the title or tags, rank first: a lead's question is rarely a conjunction of its words.
_SEARCH = text("""
SELECT title, body FROM knowledge_documents,
     CAST(replace(CAST(plainto_tsquery('sdr_portuguese', :q) AS text), '&', '|') AS tsquery) AS q
WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC, id LIMIT :limit
""")


@dataclass(frozen=True)
class Imported:
    source: str
    added: int
    removed: int
    unchanged: int


def _hash(section: Section) -> str:
    return hashlib.sha256(f"{section.title}\n{section.body}\n{section.tags}".encode()).hexdigest()


def import_sections(session: Session, sections: list[Section], source: str, replace: bool = False) -> Imported:
    """Add `sections` to `source` (unchanged ones are kept); with `replace`, the source's other
    documents go in the same statement. Call `bump_knowledge_version` after the commit."""
    if not sections:
        raise KnowledgeError(["no sections to import"])
    row = session.execute(_IMPORT, {
        "source": source, "replace": replace, "titles": [s.title for s in sections],
        "bodies": [s.body for s in sections], "tags": [s.tags for s in sections],
        "hashes": [_hash(s) for s in sections],
    }).one()
    unique = len({_hash(s) for s in sections})
    return Imported(source, row.added, row.removed, unique - row.added)


def import_file(session: Session, path: Path, source: str | None = None, replace: bool = False) -> Imported:
    """Import a Markdown or CSV file as `source` (default: the file's name); the caller bumps the version."""
    return import_sections(session, parse_file(path), source or path.name, replace)


Sessions = Callable[[], ContextManager[Session]]


def store_knowledge(sessions: Sessions, client: redis.Redis, sections: list[Section], source: str,
                    replace: bool = False) -> Imported:
    """Import in one transaction, then invalidate cached searches (after the commit, never before)."""
    with sessions() as session:
        imported = import_sections(session, sections, source, replace)
    if imported.added or imported.removed:
        bump_knowledge_version(client)
    return imported


def delete_knowledge(sessions: Sessions, client: redis.Redis, source: str) -> int:
    with sessions() as session:
        deleted = session.execute(_DELETE, {"source": source}).rowcount
    if deleted:
        bump_knowledge_version(client)
    return deleted


def knowledge_sources(session: Session) -> list[dict[str, Any]]:
    return [{"source": r.source, "documents": r.documents} for r in session.execute(_SOURCES)]


def search_knowledge(session: Session, query: str, limit: int = 3) -> list[Section]:
    if not query.strip():
        return []
    return [Section(r.title, r.body) for r in session.execute(_SEARCH, {"q": query, "limit": limit})]


# -- the cache ---------------------------------------------------------------------------------

# A missing version starts from Redis's clock in microseconds, so it is larger than any version
# used before the key was lost and old entries can never be mistaken for current ones.
_START_VERSION = """
local t = redis.call('TIME')
v = t[1] .. string.format('%06d', tonumber(t[2]))
"""

_BUMP = """
local v
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
""" + _START_VERSION + """
redis.call('SET', KEYS[1], v)
return v
"""

# KEYS: version. ARGV: the query's digest. Returns {version, cached JSON or false}.
_LOOKUP = """
local v = redis.call('GET', KEYS[1])
if not v then
""" + _START_VERSION + """
  if not redis.call('SET', KEYS[1], v, 'NX') then v = redis.call('GET', KEYS[1]) end
end
return {v, redis.call('GET', 'sdr:kb:' .. v .. ':' .. ARGV[1])}
"""


def bump_knowledge_version(client: redis.Redis) -> int:
    """Make every cached search stale: one round trip, whatever the number of cached queries."""
    return int(client.eval(_BUMP, 1, VERSION_KEY))


def _digest(query: str, limit: int) -> str:
    normalized = " ".join(query.lower().split())
    return f"{limit}:{hashlib.sha1(normalized.encode()).hexdigest()}"


@dataclass(frozen=True)
class Lookup:
    query: str
    limit: int
    version: str
    hits: list[Section] | None  # None: not cached


def queue_lookup(pipe: Any, query: str, limit: int) -> None:
    """Queue the cache lookup on a pipeline (so it shares a round trip the caller makes anyway)."""
    pipe.eval(_LOOKUP, 1, VERSION_KEY, _digest(query, limit))


def read_lookup(query: str, limit: int, reply: Any) -> Lookup:
    version, cached = reply
    hits = [Section(t, b) for t, b in json.loads(cached)] if cached else None
    return Lookup(query, limit, str(version), hits)


def find_knowledge(sessions: Sessions, client: redis.Redis, lookup: Lookup, pipe: Any | None = None) -> list[Section]:
    """The hits of a lookup: cached ones as they are; otherwise searched and cached under the version
    read before the search. The SET goes on `pipe` when given (the caller executes it)."""
    if lookup.hits is not None:
        return lookup.hits
    if not lookup.query.strip():
        return []
    with sessions() as session:
        hits = search_knowledge(session, lookup.query, lookup.limit)
    key = f"sdr:kb:{lookup.version}:{_digest(lookup.query, lookup.limit)}"
    value = json.dumps([[h.title, h.body] for h in hits], ensure_ascii=False)
    (pipe if pipe is not None else client).set(key, value, ex=RESULT_TTL_SECONDS)
    return hits
