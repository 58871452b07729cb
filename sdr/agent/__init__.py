"""The sales brain: playbook, prompts, the analysis call, the reply call and its guardrails."""
