"""Celery's own settings. Values that depend on sdr's configuration come from sdr.settings."""

from sdr.settings import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
broker_pool_limit = 100  # many greenlets publish chain steps concurrently
broker_transport_options = {
    # Longer than any countdown plus a task's time limit (checked in sdr.settings), so a delayed
    # task is never redelivered while it is still legitimately waiting.
    "visibility_timeout": _settings.visibility_timeout,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "health_check_interval": 25,
    "retry_on_timeout": True,
    "max_retries": 3,  # a publisher (the webhook) must not hang on a dead broker
    # Every greenlet acks and publishes through the channel's own pool (kombu's default is 10):
    # too small a pool fails acks with MaxConnectionsError and the message is redelivered later.
    "max_connections": 1000,
    # Look for expired unacknowledged messages every ~30 s instead of ~100 s.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 3,
}
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.3}

# Chains carry their remaining steps in the message; nothing reads results.
result_backend = None
task_ignore_result = True

# At-least-once delivery: every task is idempotent (see sdr.pipeline).
task_acks_late = True
worker_prefetch_multiplier = 1
task_reject_on_worker_lost = False

task_soft_time_limit = _settings.step_time_limit
task_time_limit = _settings.step_time_limit + 15

worker_soft_shutdown_timeout = 10.0
worker_enable_soft_shutdown_on_idle = True
# Task events cost the worker about a fifth of its CPU per turn. Flower switches them on
# (its enable_events control command) while it runs, so monitoring still sees every task.
worker_send_task_events = False
worker_hijack_root_logger = True

task_default_queue = "agent"
task_routes = {
    "sdr.ingest": {"queue": "ingest"},
    "sdr.turn.send": {"queue": "send"},
    "sdr.turn.*": {"queue": "agent"},
    # downloads and transcription are slow I/O like model calls; the ingest queue stays fast
    "sdr.media.*": {"queue": "agent"},
    "sdr.jobs.*": {"queue": "periodic"},
}

timezone = "UTC"
enable_utc = True
