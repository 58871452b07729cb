"""The Celery application, its worker hooks, and its integration with the Flask app.

Following Flask's Celery pattern, the web app registers this Celery app in its extensions and
makes it the default, so publishing from request threads always uses our broker settings.
Tasks need no Flask context: they call the domain, which knows nothing of Flask.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, signals

from sdr.accounting import dump_counters
from sdr.agent.playbook import PlaybookError, cached_playbook
from sdr.chips import ensure_env_chips
from sdr.db import dispose_engine, session_scope
from sdr.llm import check_llm_configured, describe_llm
from sdr.logs import install_redaction
from sdr.settings import ConfigError, get_settings
from tasks.schedule import beat_schedule

app = Celery("sdr")
app.config_from_object("celeryconfig")
app.conf.beat_schedule = beat_schedule(get_settings())
app.conf.include = ["tasks.inbound", "tasks.turn", "tasks.jobs", "tasks.media", "tasks.memory"]

log = logging.getLogger(__name__)


def init_app(flask_app: object) -> Celery:
    """Attach the Celery app to a Flask app (`app.extensions["celery"]`)."""
    flask_app.extensions["celery"] = app  # type: ignore[attr-defined]
    app.set_default()
    return app


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact(logger: logging.Logger, **_: object) -> None:
    install_redaction(get_settings(), logger)


@signals.worker_init.connect
def _check_configuration(**_: object) -> None:
    # Signal handlers' exceptions are only logged; a bad configuration must stop the worker.
    try:
        check_llm_configured(get_settings())
        cached_playbook(get_settings().playbook_path)  # the error names the bad field
    except (ConfigError, PlaybookError) as exc:
        raise SystemExit(f"sdr worker: {exc}") from None


@signals.worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    dispose_engine()  # a forked child must not share its parent's sockets


@signals.worker_ready.connect
def _register_chips(**_: object) -> None:
    settings = get_settings()
    log.log(logging.WARNING if settings.stand_in_llm else logging.INFO, describe_llm(settings))
    try:
        with session_scope(settings) as session:
            ensure_env_chips(session, settings)
    except Exception:  # a worker still serves the chips already registered
        log.exception("could not register the environment's chips")


@signals.worker_shutdown.connect
def _dump_accounting(**_: object) -> None:
    directory = os.environ.get("SDR_ACCOUNTING_DIR")
    if directory:
        dump_counters(directory, "worker")
