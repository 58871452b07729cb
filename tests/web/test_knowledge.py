"""The knowledge admin API: import Markdown, CSV or JSON, search, delete; bad input is a 400 that changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sdr.settings import REPO_ROOT


@pytest.fixture()
def auth(rt) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.settings.admin_token}"}


def titles(rt) -> list[str]:
    with rt.sessions() as session:
        return list(session.execute(text("SELECT title FROM knowledge_documents ORDER BY title")).scalars())


def test_requires_the_bearer_token(client):
    assert client.get("/api/knowledge?q=garantia").status_code == 401
    answer = client.post("/api/knowledge", data="# A\nb", content_type="text/markdown",
                         headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401


def test_markdown_csv_and_json_imports_then_search(rt, client, auth):
    markdown = (REPO_ROOT / "playbooks" / "solar-knowledge.md").read_text(encoding="utf-8")
    answer = client.post("/api/knowledge?source=site", data=markdown.encode(), content_type="text/markdown",
                         headers=auth)
    assert answer.status_code == 200 and answer.json["added"] == 8, answer.json
    csv_body = (REPO_ROOT / "playbooks" / "solar-knowledge.csv").read_bytes()
    answer = client.post("/api/knowledge?source=faq", data=csv_body, content_type="text/csv; charset=utf-8",
                         headers=auth)
    assert answer.json["added"] == 3
    answer = client.post("/api/knowledge?source=extra", json=[{"title": "Bateria", "body": "Não vendemos baterias."}],
                         headers=auth)
    assert answer.json["added"] == 1

    answer = client.get("/api/knowledge", query_string={"q": "garantia dos paineis", "limit": "2"}, headers=auth)
    assert answer.status_code == 200 and answer.json["hits"][0]["title"] == "Garantia"
    sources = client.get("/api/knowledge", headers=auth).json["sources"]
    assert sources == [{"source": "extra", "documents": 1}, {"source": "faq", "documents": 3},
                       {"source": "site", "documents": 8}]


def test_bad_input_is_400_with_the_reason_and_changes_nothing(rt, client, auth):
    client.post("/api/knowledge?source=faq", data="title,body\nA,a\n", content_type="text/csv", headers=auth)
    cases = [
        ({"data": "title,body\nB,b\nC,\n", "content_type": "text/csv"}, "line 3, column body: empty"),
        ({"data": "sem títulos aqui", "content_type": "text/markdown"}, "no sections found"),
        ({"json": [{"title": "B"}]}, "item 1"),
        ({"data": "{not json", "content_type": "application/json"}, "not valid JSON"),
        ({"data": b"title,body\n\xff,x\n", "content_type": "text/csv"}, "not UTF-8"),
    ]
    for kwargs, reason in cases:
        answer = client.post("/api/knowledge?source=faq&replace=1", headers=auth, **kwargs)
        assert answer.status_code == 400 and reason in answer.json["reason"], (reason, answer.json)
    assert client.post("/api/knowledge", data="x", content_type="application/pdf", headers=auth).status_code == 415
    assert client.post("/api/knowledge?source=../etc", data="# A\na", content_type="text/markdown",
                       headers=auth).status_code == 400
    assert client.get("/api/knowledge?q=a&limit=500", headers=auth).status_code == 400
    assert titles(rt) == ["A"]


def test_replace_and_delete_reach_the_turns_cache(rt, client, auth):
    from tests.sdr.test_knowledge import lookup

    client.post("/api/knowledge?source=faq", data="# Garantia\n25 anos.", content_type="text/markdown", headers=auth)
    assert [h.body for h in lookup(rt, "garantia")] == ["25 anos."]
    client.post("/api/knowledge?source=faq&replace=1", data="# Garantia\n30 anos.", content_type="text/markdown",
                headers=auth)
    assert [h.body for h in lookup(rt, "garantia")] == ["30 anos."]
    answer = client.delete("/api/knowledge/faq", headers=auth)
    assert answer.status_code == 200 and answer.json["deleted"] == 1
    assert lookup(rt, "garantia") == []
    assert client.delete("/api/knowledge/faq", headers=auth).status_code == 404
