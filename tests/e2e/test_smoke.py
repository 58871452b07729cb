"""The fleet answers a sandbox message end to end (harness check)."""

from tests.factories import phone
from tests.fleet import wait_until


def test_sandbox_message_gets_one_reply(e2e):
    answer = e2e.sandbox(phone(1), "Oi! Quanto custa um sistema solar?")
    assert answer.status_code == 200, answer.text
    secret = e2e.env["SDR_SANDBOX_SECRET"]
    def replies():
        got = e2e.get("/sandbox/messages", params={"phone": phone(1), "secret": secret}).json()["messages"]
        return [m for m in got if m["direction"] == "out"]
    out = wait_until(replies, 20, what="a reply in the sandbox")
    assert len(out) == 1 and out[0]["text"].startswith("[simulador]")
