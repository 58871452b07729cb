"""`sdr check-playbook`: a good file is summarised, a bad one fails naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr.cli import main
from sdr.settings import REPO_ROOT


@pytest.mark.parametrize("name", ["solar.yaml", "staffing.yaml"])
def test_check_playbook_accepts_the_examples(name, capsys):
    assert main(["check-playbook", str(REPO_ROOT / "playbooks" / name)]) == 0
    assert f"playbook {name} ok" in capsys.readouterr().out


def test_check_playbook_names_the_bad_field(tmp_path: Path, capsys):
    text = (REPO_ROOT / "playbooks" / "solar.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("timezone: America/Sao_Paulo", "timezone: Sao_Paulo"), encoding="utf-8")
    assert main(["check-playbook", str(bad)]) == 2
    assert "playbook bad.yaml: business_hours.timezone 'Sao_Paulo' is not an IANA time zone" in capsys.readouterr().err
