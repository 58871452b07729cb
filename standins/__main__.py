"""Entry point of ``python -m standins``: patch the standard library for gevent, then run the server."""

from gevent import monkey

monkey.patch_all()

from standins.serve import main  # noqa: E402  (must come after monkey-patching)

raise SystemExit(main())
