"""gunicorn settings for the web process (Procfile `web`)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
# One process by default: the webhook is a parse, one INSERT and one publish, and on a small
# machine a second process costs ~100 MB for little throughput. Raise WEB_CONCURRENCY with cores.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("WEB_THREADS", "16"))
timeout = 30
graceful_timeout = 20
keepalive = 5
backlog = 2048
# Paths only (%(U)s): query strings can carry a webhook secret.
accesslog = "-" if os.environ.get("SDR_ACCESS_LOG") else None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
