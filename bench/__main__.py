"""``python -m bench``: run the benchmark (see ``python -m bench --help``)."""

from bench.cli import main

raise SystemExit(main())
