"""Knowledge and memory on the real fleet: knowledge imported through the admin API reaches the reply
prompt of the lead's question, and a conversation that outgrows the history window gets its rolling
summary from the worker, which the next turn's prompts carry.

The window is small here (4 messages, summary after 3) so a few turns are enough.
"""

from __future__ import annotations

import json

import pytest

from sdr.settings import REPO_ROOT
from tests.e2e.helpers import conversation_of, lead_says, reply_requests, wait_for_sends
from tests.factories import phone
from tests.fleet import wait_until


@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str]) -> dict[str, str]:
    return {**base_env, "SDR_HISTORY_MESSAGES": "4", "SDR_SUMMARY_AFTER_MESSAGES": "3"}


def admin(e2e) -> dict[str, str]:
    return {"Authorization": f"Bearer {e2e.env['SDR_ADMIN_TOKEN']}"}


def test_knowledge_imported_through_the_api_reaches_the_reply_prompt(e2e, llm, evolution):
    markdown = (REPO_ROOT / "playbooks" / "solar-knowledge.md").read_bytes()
    answer = e2e.post("/api/knowledge", data=markdown, params={"source": "site"},
                      headers={**admin(e2e), "Content-Type": "text/markdown"})
    assert answer.status_code == 200 and answer.json()["added"] == 8, answer.text
    lead = phone(301)
    question = "Vocês fazem financiamento? E qual a garantia dos painéis?"
    lead_says(e2e, lead, question)
    wait_for_sends(evolution, lead, 1)
    [request] = reply_requests(llm, question)
    guidance = request["body"]["messages"][1]["content"]
    assert "Financiamento e parcelamento: Trabalhamos com financiamento solar em até 60 parcelas" in guidance
    assert "Garantia: Painéis com 25 anos" in guidance
    assert llm.stats()["calls"]["analysis"] == 1


def test_a_growing_conversation_gets_a_summary_in_the_background(e2e, llm, evolution, settings):
    lead = phone(302)
    questions = ["Oi, moro em Campinas", "Minha conta vem uns 400 reais", "A casa tem telhado de cerâmica",
                 "Quando vocês podem vir?"]
    for count, question in enumerate(questions[:3], start=1):
        lead_says(e2e, lead, question)
        wait_for_sends(evolution, lead, count)
    summarized = wait_until(lambda: (c := conversation_of(settings, lead)) is not None and c.summary and c,
                            45, 0.2, "the rolling summary")
    assert summarized.summary_through_id > 0

    lead_says(e2e, lead, questions[3])
    wait_for_sends(evolution, lead, 4)
    [request] = reply_requests(llm, questions[3])
    # made of the lead's words, the summary travels as user content (data), never as system text
    messages = request["body"]["messages"]
    quoted = json.dumps(summarized.summary, ensure_ascii=False)
    assert any(quoted in m["content"] for m in messages if m["role"] == "user")
    assert not any(summarized.summary in m["content"] for m in messages if m["role"] == "system")
