"""Worker start-up refuses a configuration it cannot work with, naming what is wrong."""

from __future__ import annotations

import importlib

import pytest

from sdr.settings import REPO_ROOT, get_settings


@pytest.fixture(autouse=True)
def fresh_settings():
    """The worker reads the process's (cached) settings: let each test's environment count."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _check_configuration() -> None:
    # `tasks.app` is also the name of the Celery app object that `tasks` exports, so import the module itself.
    importlib.import_module("tasks.app")._check_configuration()


def test_a_bad_playbook_stops_the_worker(settings, tmp_path, monkeypatch):
    bad = tmp_path / "staffing.yaml"
    text = (REPO_ROOT / "playbooks" / "staffing.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("method: SPIN", "method: MEDDIC"), encoding="utf-8")
    monkeypatch.setenv("SDR_PLAYBOOK", str(bad))
    with pytest.raises(SystemExit, match="sdr worker: playbook staffing.yaml: qualification.method must be"):
        _check_configuration()


def test_a_good_playbook_lets_the_worker_start(settings, monkeypatch):
    monkeypatch.setenv("SDR_PLAYBOOK", str(REPO_ROOT / "playbooks" / "staffing.yaml"))
    _check_configuration()
