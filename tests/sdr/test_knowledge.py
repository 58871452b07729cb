"""The business's knowledge: Markdown sections imported once, searched in Portuguese without accents."""

from __future__ import annotations

from pathlib import Path

from sdr.knowledge import import_markdown, parse_markdown, search_knowledge
from sdr.settings import REPO_ROOT

DOC = """Texto antes do primeiro título é ignorado.

# Financiamento
Parcelamos em até 60 vezes
no financiamento solar.

## Garantia
Os painéis têm garantia de 25 anos de eficiência.

## Vazio
"""


def test_one_section_per_heading_with_text():
    sections = parse_markdown(DOC)
    assert [(s.title, s.body) for s in sections] == [
        ("Financiamento", "Parcelamos em até 60 vezes no financiamento solar."),
        ("Garantia", "Os painéis têm garantia de 25 anos de eficiência."),
    ]


def test_import_is_idempotent_and_search_ignores_accents(clean, tmp_path: Path):
    from sdr.db import session_scope

    path = tmp_path / "faq.md"
    path.write_text(DOC, encoding="utf-8")
    with session_scope(clean) as session:
        assert import_markdown(session, path) == 2
        assert import_markdown(session, path) == 0
        hits = search_knowledge(session, "paineis garantia")
        assert [h.title for h in hits] == ["Garantia"]
        assert search_knowledge(session, "   ") == []


def test_the_example_knowledge_file_imports(clean):
    from sdr.db import session_scope

    with session_scope(clean) as session:
        assert import_markdown(session, REPO_ROOT / "playbooks" / "solar-knowledge.md") > 0
        assert search_knowledge(session, "financiamento")
