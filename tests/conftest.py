"""Shared fixtures: a throwaway Postgres database per run (migrated by Alembic), a Redis database
index claimed for the run, the protocol stand-ins, and settings pointing at all of them.

Every test starts from empty tables, an empty Redis database and reset stand-ins.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sdr.chips import ensure_env_chips  # noqa: E402
from sdr.db import session_scope  # noqa: E402
from sdr.runtime import Runtime, build_runtime  # noqa: E402
from sdr.settings import Settings, load_settings, normalize_database_url  # noqa: E402
from standins.launch import StandIn, start  # noqa: E402

SERVER_URL = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_SERVER = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
EVOLUTION_KEY = "evo-test-api-key"
ZAPI_TOKEN = "zapi-test-instance-token"
ZAPI_INSTANCE = "3E4F7360B552F0C2DBCB9E6774402775"
TWILIO_TOKEN = "twilio-test-auth-token"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_FROM = "+14155238886"
MEDIA_KEY = "media-test-key"
SECRETS = {
    "EVOLUTION_WEBHOOK_SECRET": "evo-webhook-secret-for-tests",
    "ZAPI_WEBHOOK_SECRET": "zapi-webhook-secret-for-tests",
    "SDR_SANDBOX_SECRET": "sandbox-secret-for-tests",
    "SDR_ADMIN_TOKEN": "admin-token-for-tests",
    "FLOWER_BASIC_AUTH": "ops:flower-pass-for-tests",
}
TABLES = ("message_statuses, outbox, messages, turns, conversations, leads, chips, guidelines, knowledge_documents, "
          "media_cache")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"sdr_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(normalize_database_url(SERVER_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = _with_database(SERVER_URL, name)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = normalize_database_url(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "heads")
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Claim a Redis database index nobody else (another run, the dev fleet) is using."""
    base = REDIS_SERVER.rsplit("/", 1)[0] if REDIS_SERVER.count("/") > 2 else REDIS_SERVER
    claim = f"sdr-test-claim:{os.getpid()}"
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{index}")
        if client.set("sdr-test-claim", claim, nx=True, ex=3600):
            yield f"{base}/{index}"
            client.flushdb()
            client.close()
            return
        client.close()
    pytest.fail("no free Redis database index (1-15) for the test run")


@pytest.fixture(scope="session")
def llm_server() -> Iterator[StandIn]:
    with start("llm") as server:
        yield server


@pytest.fixture(scope="session")
def evolution_server() -> Iterator[StandIn]:
    with start("evolution", api_key=EVOLUTION_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def zapi_server() -> Iterator[StandIn]:
    with start("zapi", api_key=ZAPI_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[StandIn]:
    with start("twilio", api_key=TWILIO_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def meta_server() -> Iterator[StandIn]:
    from tests.meta_factories import ACCESS_TOKEN

    with start("meta", api_key=ACCESS_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def media_server() -> Iterator[StandIn]:
    with start("media", api_key=MEDIA_KEY) as server:
        yield server


@pytest.fixture()
def zapi(zapi_server: StandIn) -> StandIn:
    zapi_server.reset()
    return zapi_server


@pytest.fixture()
def twilio(twilio_server: StandIn) -> StandIn:
    twilio_server.reset()
    return twilio_server


@pytest.fixture()
def meta(meta_server: StandIn) -> StandIn:
    meta_server.reset()
    return meta_server


@pytest.fixture()
def media(media_server: StandIn) -> StandIn:
    """The file server leads' attachments are downloaded from (plain URLs, Meta lookups, Evolution base64)."""
    media_server.reset()
    return media_server


@pytest.fixture()
def llm(llm_server: StandIn) -> StandIn:
    llm_server.reset()
    return llm_server


@pytest.fixture()
def evolution(evolution_server: StandIn) -> StandIn:
    evolution_server.reset()
    return evolution_server


@pytest.fixture(scope="session")
def base_env(database_url: str, redis_url: str, llm_server: StandIn, evolution_server: StandIn,
             zapi_server: StandIn, twilio_server: StandIn) -> dict[str, str]:
    """The environment every process of the fleet under test gets (tests may override keys)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OPENAI_API_KEY": "stand-in",
        "OPENAI_BASE_URL": llm_server.url + "/v1",
        "EVOLUTION_API_URL": evolution_server.url,
        "EVOLUTION_API_KEY": EVOLUTION_KEY,
        "EVOLUTION_INSTANCE": "sdr-test",
        "ZAPI_BASE_URL": zapi_server.url,
        "ZAPI_INSTANCE_ID": ZAPI_INSTANCE,
        "ZAPI_TOKEN": ZAPI_TOKEN,
        "ZAPI_CLIENT_TOKEN": "zapi-stand-in-client-token",
        "TWILIO_API_URL": twilio_server.url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:" + TWILIO_FROM,
        "SDR_BUFFER_QUIET_SECONDS": "0.6",
        "SDR_BUFFER_MAX_SECONDS": "3",
        "SDR_HUMAN_PAUSE_MINUTES": "30",
        "SDR_LLM_TIMEOUT_SECONDS": "10",
        "SDR_PROVIDER_READ_TIMEOUT": "5",
        "SDR_STEP_TIME_LIMIT": "20",
        "SDR_TURN_LOCK_SECONDS": "30",
        "SDR_SEND_RETRY_BACKOFF_MAX": "2",
        "SDR_VISIBILITY_TIMEOUT": "120",
        "SDR_SWEEP_INTERVAL_SECONDS": "2",
        "SDR_SWEEP_GRACE_SECONDS": "2",
        **SECRETS,
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    settings = load_settings(base_env)
    os.environ.update(base_env)  # in-process code that reads get_settings() sees the same values
    return settings


@pytest.fixture()
def clean(settings: Settings, redis_url: str) -> Settings:
    """Empty tables and Redis, the environment's chips registered again."""
    with session_scope(settings) as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        ensure_env_chips(session, settings)
    client = redis.Redis.from_url(redis_url)
    claim = client.get("sdr-test-claim")
    client.flushdb()
    if claim:
        client.set("sdr-test-claim", claim, ex=3600)
    client.close()
    return settings


@pytest.fixture()
def rt(clean: Settings, llm: StandIn, evolution: StandIn) -> Runtime:
    """The collaborators of a turn, for calling sdr steps in-process against real services."""
    return build_runtime(clean)


def with_settings(rt: Runtime, **changes: object) -> Runtime:
    """A copy of `rt` with some settings changed (timing of the buffer follows the new values)."""
    return build_runtime(dataclasses.replace(rt.settings, **changes))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str]) -> dict[str, str]:
    """Override in a test module to run the fleet with different settings."""
    return base_env


@pytest.fixture(scope="module")
def fleet_processes() -> tuple[str, ...]:
    return ("web", "worker", "jobs", "beat")


@pytest.fixture(scope="module")
def fleet(fleet_env: dict[str, str], fleet_processes: tuple[str, ...], tmp_path_factory: pytest.TempPathFactory,
          settings: Settings) -> Iterator["Fleet"]:
    from tests.fleet import Fleet

    running = Fleet(fleet_env, tmp_path_factory.mktemp("fleet"), fleet_processes)
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture()
def e2e(request: pytest.FixtureRequest, fleet: "Fleet", clean: Settings, llm: StandIn,
        evolution: StandIn) -> Iterator["Fleet"]:
    """The running fleet, from a clean state; its logs are printed if the test fails."""
    for name in fleet.wanted:  # a previous test may have killed a process
        if name not in fleet.procs or fleet.procs[name].poll() is not None:
            fleet.procs.pop(name, None)
            fleet.start(name)
    yield fleet
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(fleet.logs())
