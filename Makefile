# sdr — the two commands that do all the set-up on a fresh machine:
#
#   make run     bring the whole fleet up (web, worker, jobs, beat, flower, stand-ins); Ctrl-C stops it
#   make test    run the whole test suite
#
# Every target runs scripts/dev.sh, which is idempotent: it creates .venv, reinstalls only when
# pyproject.toml changed, and uses (or starts) Postgres and Redis before doing its job.

DEV := bash scripts/dev.sh

# Extra arguments: make test PYTEST_ARGS="-k webhook -x"   make bench BENCH_ARGS="--quick"
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test bench install services migrate seed stop-dev clean-dev

help:
	@echo "make run        set everything up and run the fleet; prints the sandbox chat and Flower URLs"
	@echo "make test       set everything up and run the test suite (PYTEST_ARGS=...)"
	@echo "make bench      set everything up and run the benchmark (BENCH_ARGS=...; results in docs/benchmarks.md)"
	@echo "make install    create .venv and install sdr with its test extras"
	@echo "make services   make Postgres and Redis reachable, create the database, write .dev/env"
	@echo "make migrate    services + alembic upgrade heads"
	@echo "make seed       migrate + load the example playbook, knowledge and chips"
	@echo "make stop-dev   stop the private Postgres/Redis under .dev/ (if any were started)"
	@echo "make clean-dev  stop them and delete .dev/ (their data and the generated secrets)"

run:
	@$(DEV) run

test:
	@$(DEV) test $(PYTEST_ARGS)

bench:
	@$(DEV) bench $(BENCH_ARGS)

install:
	@$(DEV) install

services:
	@$(DEV) services

migrate:
	@$(DEV) migrate

seed:
	@$(DEV) seed

stop-dev:
	@$(DEV) stop

clean-dev:
	@$(DEV) clean
