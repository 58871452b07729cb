"""The business's knowledge: Markdown and CSV imported whole or not at all, sources swapped atomically,
searched in Portuguese without accents, hot searches cached until the next change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from sdr.accounting import counters
from sdr.cli import main
from sdr.knowledge import (KnowledgeError, bump_knowledge_version, delete_knowledge, find_knowledge, import_file,
                           queue_lookup, read_lookup, search_knowledge, store_knowledge)
from sdr.knowledge_files import Section, parse_csv, parse_entries, parse_markdown
from sdr.settings import REPO_ROOT

SOLAR_MD = REPO_ROOT / "playbooks" / "solar-knowledge.md"
SOLAR_CSV = REPO_ROOT / "playbooks" / "solar-knowledge.csv"

DOC = """Texto antes do primeiro título é ignorado.

# Financiamento
Parcelamos em até 60 vezes
no financiamento solar.

## Garantia
Os painéis têm garantia de 25 anos de eficiência.

## Vazio
"""


def documents(rt) -> list[tuple[str, str]]:
    with rt.sessions() as session:
        return [tuple(r) for r in session.execute(text(
            "SELECT source, title FROM knowledge_documents ORDER BY source, title"))]


def test_one_section_per_heading_with_text():
    sections = parse_markdown(DOC)
    assert [(s.title, s.body) for s in sections] == [
        ("Financiamento", "Parcelamos em até 60 vezes no financiamento solar."),
        ("Garantia", "Os painéis têm garantia de 25 anos de eficiência."),
    ]


def test_import_is_idempotent_and_search_ignores_accents(rt, tmp_path: Path):
    path = tmp_path / "faq.md"
    path.write_text(DOC, encoding="utf-8")
    with rt.sessions() as session:
        assert import_file(session, path).added == 2
        again = import_file(session, path)
        assert (again.added, again.unchanged) == (0, 2)
        assert [h.title for h in search_knowledge(session, "paineis garantia")] == ["Garantia"]
        assert search_knowledge(session, "   ") == []


@pytest.mark.parametrize("question, expected", [
    ("Quais são os preços?", "Preços dos kits"),
    ("quanto custa o kit de 5 kWp?", "Preços dos kits"),
    ("Vocês fazem financiamento?", "Financiamento e parcelamento"),
    ("dá pra parcelar em quantas parcelas?", "Financiamento e parcelamento"),
    ("qual a garantia dos painéis?", "Garantia"),
    ("GARANTIA DOS PAINEIS", "Garantia"),
    ("quanto tempo demora a instalação", "Prazo de instalação"),
    ("instalam em telhado de fibrocimento?", "Tipos de telhado"),
    ("a visita tecnica é paga?", "Visita técnica"),
    ("aceitam pix ou cartão?", "Formas de pagamento"),
    ("tem app pra ver a geração?", "Monitoramento"),
])
def test_realistic_questions_find_the_right_section(rt, question, expected):
    with rt.sessions() as session:
        import_file(session, SOLAR_MD)
        import_file(session, SOLAR_CSV)
        hits = search_knowledge(session, question, 3)
    assert hits and hits[0].title == expected, [h.title for h in hits]


def test_csv_with_semicolons_quotes_and_tags():
    sections = parse_csv('\ufefftitle;body;tags\n"Prazo";"Entre 30 e\n45 dias";"prazo, tempo"\n\n')
    assert sections == [Section("Prazo", "Entre 30 e 45 dias", "prazo, tempo")]


@pytest.mark.parametrize("content, problem", [
    ("titulo,body\nA,B\n", "line 1, column 1: unknown column 'titulo'"),
    ("body,tags\nB,x\n", "line 1: missing column 'title'"),
    ("title,body\nA,texto\n,sem título\n", "line 3, column title: empty"),
    ("title,body\nA,texto\nB\n", "line 3: expected 2 columns, found 1"),
    ('title,body\nA,"multi\nlinha"\nB,\n', "line 4, column body: empty"),
    ("", "line 1: the file is empty"),
])
def test_bad_csv_names_line_and_column(content, problem):
    with pytest.raises(KnowledgeError) as error:
        parse_csv(content)
    assert problem in str(error.value)


def test_json_entries():
    assert parse_entries([{"title": "A", "body": "b  c", "tags": ["x", "y"]}]) == [Section("A", "b c", "x, y")]
    with pytest.raises(KnowledgeError, match="item 2, column body: empty"):
        parse_entries([{"title": "A", "body": "b"}, {"title": "B", "body": " "}])


def test_cli_imports_a_csv_and_a_bad_file_changes_nothing(rt, tmp_path: Path, capsys):
    assert main(["import-knowledge", str(SOLAR_CSV), "--source", "faq"]) == 0
    assert "3 section(s) added" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("title,body\nNovo,texto bom\nQuebrado,\n", encoding="utf-8")
    assert main(["import-knowledge", str(bad), "--source", "faq", "--replace"]) == 2
    assert "line 3, column body: empty" in capsys.readouterr().err
    assert [title for _, title in documents(rt)] == ["Formas de pagamento", "Manutenção", "Monitoramento"]


def test_replace_swaps_one_source_atomically(rt, tmp_path: Path, capsys):
    store_knowledge(rt.sessions, rt.redis, [Section("Outro", "de outra fonte")], "other")
    store_knowledge(rt.sessions, rt.redis, [Section("A", "a"), Section("B", "b"), Section("C", "c")], "faq")
    swapped = store_knowledge(rt.sessions, rt.redis, [Section("B", "b"), Section("D", "d")], "faq", replace=True)
    assert (swapped.added, swapped.removed, swapped.unchanged) == (1, 2, 1)
    assert documents(rt) == [("faq", "B"), ("faq", "D"), ("other", "Outro")]
    path = tmp_path / "faq.md"
    path.write_text("# E\ne\n", encoding="utf-8")
    assert main(["import-knowledge", str(path), "--source", "faq", "--replace"]) == 0
    assert documents(rt) == [("faq", "E"), ("other", "Outro")]
    assert delete_knowledge(rt.sessions, rt.redis, "faq") == 1
    assert documents(rt) == [("other", "Outro")]


def lookup(rt, query: str):
    pipe = rt.redis.pipeline(transaction=False)
    queue_lookup(pipe, query, 3)
    [reply] = pipe.execute()
    return find_knowledge(rt.sessions, rt.redis, read_lookup(query, 3, reply))


def test_hot_queries_are_cached_until_the_knowledge_changes(rt):
    store_knowledge(rt.sessions, rt.redis, [Section("Garantia", "Painéis com 25 anos de garantia.")], "faq")
    before = counters.snapshot()
    assert [h.title for h in lookup(rt, "garantia dos painéis")] == ["Garantia"]
    assert counters.since(before).sql == 1 and counters.since(before).redis == 2  # miss: look up, search, store
    before = counters.snapshot()
    assert [h.title for h in lookup(rt, "  Garantia   dos PAINÉIS")] == ["Garantia"]
    assert (counters.since(before).sql, counters.since(before).redis) == (0, 1)  # hit: one round trip

    store_knowledge(rt.sessions, rt.redis, [Section("Garantia estendida", "Garantia dos painéis: 30 anos.")],
                    "faq", replace=True)
    assert [h.title for h in lookup(rt, "garantia dos painéis")] == ["Garantia estendida"]
    delete_knowledge(rt.sessions, rt.redis, "faq")
    assert lookup(rt, "garantia dos painéis") == []


def test_invalidation_is_one_round_trip_whatever_is_cached(rt):
    for n in range(50):
        lookup(rt, f"pergunta {n}")
    before = counters.snapshot()
    bump_knowledge_version(rt.redis)
    assert counters.since(before).redis == 1


def test_a_lost_version_key_never_revives_old_entries(rt):
    store_knowledge(rt.sessions, rt.redis, [Section("Garantia", "25 anos.")], "faq")
    assert lookup(rt, "garantia")
    rt.redis.delete("sdr:kb:version")  # e.g. evicted; the cached entries survived
    with rt.sessions() as session:
        session.execute(text("DELETE FROM knowledge_documents"))  # changed while Redis could not be told
    bump_knowledge_version(rt.redis)
    assert lookup(rt, "garantia") == []
