#!/usr/bin/env bash
# sdr development entry point; the Makefile targets call this.
#
#   scripts/dev.sh install            create .venv and install sdr (skipped when nothing changed)
#   scripts/dev.sh services           install + Postgres/Redis reachable + database + .dev/env
#   scripts/dev.sh migrate            services + alembic upgrade heads
#   scripts/dev.sh seed               migrate + sdr seed
#   scripts/dev.sh run                everything, then the whole fleet under honcho (Ctrl-C stops it)
#   scripts/dev.sh test [pytest args] install + services + chromium, then pytest (exit code = pytest's)
#   scripts/dev.sh bench [args]       install + services, then python -m bench
#   scripts/dev.sh stop               stop the private services under .dev/
#   scripts/dev.sh clean              stop them and delete .dev/ (data and generated secrets)
#
# Configuration precedence: your environment > .env (optional, see .env.example) > .dev/env (generated).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

HEALTH_PATH="${SDR_HEALTH_PATH:-/health}"
LLM_STANDIN_PORT=8100
EVOLUTION_STANDIN_PORT=8200

snapshot_user_env

# ---------------------------------------------------------------- building blocks

print_services() {
    say "Services"
    note "Postgres: $PG_SOURCE"
    note "Redis:    $REDIS_SOURCE"
}

# venv + services + database + .dev/env, with the application's environment exported.
prepare_app() {
    load_env_file "$USER_ENV_FILE" as-user
    ensure_venv
    ensure_postgres
    ensure_redis
    ensure_dev_env_file
    if ! is_user_set DATABASE_URL; then
        env_file_set DATABASE_URL "$(devtool with-db "$PG_SERVER_URL" "$DB_NAME")"
    fi
    if ! is_user_set REDIS_URL; then
        env_file_set REDIS_URL "$REDIS_BASE_URL/0"
    fi
    load_env_file "$DEV_ENV_FILE"
    print_services
    ensure_database "$DATABASE_URL"
    note "DATABASE_URL=$(devtool redact "$DATABASE_URL")"
    note "REDIS_URL=$(devtool redact "$REDIS_URL")"
    export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" PYTHONUNBUFFERED=1
}

# venv + services for a test or benchmark run: a server URL for throwaway databases and a Redis
# database number of its own, so a running `make run` fleet never consumes the run's tasks.
prepare_tooling() {
    local redis_db="$1"
    load_env_file "$USER_ENV_FILE" as-user DATABASE_URL REDIS_URL
    ensure_venv
    ensure_postgres
    ensure_redis
    print_services
    if ! is_user_set DATABASE_URL; then
        DATABASE_URL="$(devtool with-db "$PG_SERVER_URL" postgres)"
    fi
    ensure_database "$DATABASE_URL"
    if ! is_user_set REDIS_URL; then
        REDIS_URL="$REDIS_BASE_URL/$redis_db"
    fi
    export DATABASE_URL REDIS_URL
    note "DATABASE_URL=$(devtool redact "$DATABASE_URL")"
    note "REDIS_URL=$(devtool redact "$REDIS_URL")"
    export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" PYTHONUNBUFFERED=1
}

run_migrations() {
    say "Migrating the database (alembic upgrade heads)"
    "$VENV/bin/alembic" upgrade heads || die "migrations failed (alembic upgrade heads)"
}

run_seed() {
    [ -x "$VENV/bin/sdr" ] || die "the 'sdr' command is not in .venv (did 'pip install -e .' succeed?)"
    say "Seeding the example playbook, knowledge and chips (sdr seed)"
    "$VENV/bin/sdr" seed || die "'sdr seed' failed"
}

require_free_port() {
    local port="$1" what="$2" hint="$3"
    devtool port-free "$port" 2>/dev/null \
        || die "port $port ($what) is already in use: is another 'make run' still running? $hint"
}

# with_parent_guard CMD : CMD for the generated Procfile, set to get SIGTERM if its supervisor dies.
# honcho starts each process in a session of its own, so if honcho itself is killed (terminal closed,
# `make run | tee` interrupted) its processes would otherwise keep running, holding their ports.
# A simple command is exec'd under setpriv (the guard survives exec); a compound one (with ; & |)
# runs in `sh -c`, where only that shell is guarded.
with_parent_guard() {
    if ! command -v setpriv >/dev/null 2>&1; then
        printf '%s' "$1"
    elif [[ "$1" != *[\;\&\|]* ]]; then
        printf 'exec setpriv --pdeathsig TERM -- %s' "$1"
    else
        local quoted="${1//\'/\'\\\'\'}"
        printf "exec setpriv --pdeathsig TERM -- sh -c '%s'" "$quoted"
    fi
}

ensure_chromium() {
    if [ "${SDR_SKIP_CHROMIUM:-}" = 1 ]; then
        note "Chromium: not checked (SDR_SKIP_CHROMIUM=1)"
    elif command -v chromium >/dev/null 2>&1; then
        say "Chromium: $(command -v chromium)"
    elif apt_install chromium fonts-liberation; then
        say "Chromium: installed ($(command -v chromium || echo '?'))"
    else
        warn "could not install Debian's chromium package; browser page tests cannot run"
    fi
    return 0
}

# ---------------------------------------------------------------- commands

cmd_install() {
    ensure_venv
}

cmd_services() {
    prepare_app
}

cmd_migrate() {
    prepare_app
    run_migrations
}

cmd_seed() {
    prepare_app
    run_migrations
    run_seed
}

cmd_run() {
    prepare_app

    local port="${PORT:-8000}" flower_port="${FLOWER_PORT:-5555}"
    local llm_standin=0 evolution_standin=1 banner_warnings=()

    # LLM: a real OpenAI-compatible server if a key is given, the local stand-in otherwise.
    if [ -n "${OPENAI_API_KEY:-}" ] && [ "$OPENAI_API_KEY" != stand-in ]; then
        LLM_LINE="OpenAI-compatible API at ${OPENAI_BASE_URL:-https://api.openai.com/v1}"
    else
        [ -n "${OPENAI_BASE_URL:-}" ] && ! is_user_set OPENAI_API_KEY \
            && warn "OPENAI_BASE_URL is set but OPENAI_API_KEY is not; using the stand-in (for a keyless server set OPENAI_API_KEY to any value)"
        llm_standin=1
        export OPENAI_API_KEY=stand-in OPENAI_BASE_URL="http://127.0.0.1:$LLM_STANDIN_PORT/v1"
        LLM_LINE="local LLM stand-in at $OPENAI_BASE_URL"
        banner_warnings+=("No OPENAI_API_KEY: replies come from the local LLM stand-in (not a real model)")
    fi

    # WhatsApp: there is no WhatsApp here, so the Evolution API stand-in answers unless told otherwise.
    if [ "${SDR_REAL_EVOLUTION:-}" = 1 ]; then
        evolution_standin=0
        WA_LINE="Evolution API at ${EVOLUTION_API_URL:-?} (instance ${EVOLUTION_INSTANCE:-?})"
        case "${EVOLUTION_API_URL:-}" in
            "http://127.0.0.1:$EVOLUTION_STANDIN_PORT"*)
                warn "SDR_REAL_EVOLUTION=1 but EVOLUTION_API_URL still points at the stand-in address; set EVOLUTION_API_URL/EVOLUTION_API_KEY/EVOLUTION_INSTANCE" ;;
        esac
    else
        WA_LINE="local Evolution API stand-in at ${EVOLUTION_API_URL} (instance $EVOLUTION_INSTANCE)"
        banner_warnings+=("No WhatsApp here: outgoing messages go to the local Evolution API stand-in (set SDR_REAL_EVOLUTION=1 to use a real Evolution API)")
    fi

    require_free_port "$port" "web" "(or set PORT=...)"
    require_free_port "$flower_port" "Flower" "(or set FLOWER_PORT=...)"
    [ "$llm_standin" = 1 ] && require_free_port "$LLM_STANDIN_PORT" "LLM stand-in" "(or set OPENAI_API_KEY to use a real model)"
    [ "$evolution_standin" = 1 ] && require_free_port "$EVOLUTION_STANDIN_PORT" "Evolution API stand-in" ""

    run_migrations
    run_seed

    # The fleet: every long-running Procfile process (web first: honcho gives the first process $PORT),
    # without `release` (it exits, and honcho stops everything when one process exits), plus stand-ins.
    [ -f "$ROOT/Procfile" ] || die "Procfile not found in $ROOT"
    local procfile="$DEV_DIR/Procfile.run" name cmd line
    local -a names=()
    local -A cmds=()
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" =~ ^([A-Za-z0-9_-]+):[[:space:]]*(.+)$ ]] || continue
        name="${BASH_REMATCH[1]}"; cmd="${BASH_REMATCH[2]}"
        [ "$name" = release ] && continue
        names+=("$name"); cmds["$name"]="$cmd"
    done <"$ROOT/Procfile"
    [ -n "${cmds[web]-}" ] || die "Procfile has no 'web' process"
    [ "$llm_standin" = 1 ] && names+=(llm) \
        && cmds[llm]=".venv/bin/python -m standins llm --port $LLM_STANDIN_PORT"
    [ "$evolution_standin" = 1 ] && names+=(evolution) \
        && cmds[evolution]=".venv/bin/python -m standins evolution --port $EVOLUTION_STANDIN_PORT --api-key \"\$EVOLUTION_API_KEY\""
    # The sandbox page asks for its secret in the URL (a development secret, printed on purpose).
    local sandbox_url
    sandbox_url="$(devtool sandbox-url "$port")"
    cmds[ready]=".venv/bin/python scripts/devtool.py announce http://127.0.0.1:$port$HEALTH_PATH $port"
    {
        echo "# Generated by scripts/dev.sh from Procfile (without release) plus the local stand-ins."
        echo "web: $(with_parent_guard "${cmds[web]}")"
        for name in "${names[@]}" ready; do
            [ "$name" = web ] || echo "$name: $(with_parent_guard "${cmds[$name]}")"
        done
    } >"$procfile"

    local rule="======================================================================"
    echo
    echo "$rule"
    echo " sdr: starting the fleet (${names[*]})"
    echo
    echo "   Sandbox chat : $sandbox_url"
    echo "   Health       : http://127.0.0.1:$port$HEALTH_PATH"
    echo "   Flower       : http://127.0.0.1:$flower_port   (user:password  $FLOWER_BASIC_AUTH)"
    echo "   Admin token  : $SDR_ADMIN_TOKEN   (Authorization: Bearer <token>)"
    echo "   LLM          : $LLM_LINE"
    echo "   WhatsApp     : $WA_LINE"
    echo "   Postgres     : $PG_SOURCE"
    echo "   Redis        : $REDIS_SOURCE"
    echo "   Settings     : .dev/env (generated), .env (yours), your environment (wins)"
    local w
    for w in ${banner_warnings[@]+"${banner_warnings[@]}"}; do
        echo
        echo " !! $w"
    done
    echo
    echo " Ctrl-C stops everything."
    echo "$rule"
    echo

    # honcho, through a wrapper that keeps it working when its output pipe closes (see the script).
    # The environment comes from this process (already merged); -e /dev/null keeps honcho from
    # letting a file override variables you set.
    exec "$VPY" "$ROOT/scripts/honcho_start.py" start -f "$procfile" -e /dev/null -p "$port"
}

cmd_test() {
    prepare_tooling 1
    ensure_chromium
    say "Running the test suite: python -m pytest $*"
    set +e
    "$VPY" -m pytest "$@"
    local rc=$?
    set -e
    [ "$rc" = 0 ] || printf '==> pytest exited with status %s\n' "$rc" >&2
    exit "$rc"
}

cmd_bench() {
    prepare_tooling 2
    say "Running the benchmark: python -m bench $*"
    exec "$VPY" -m bench "$@"
}

cmd_stop() {
    stop_dev_services
}

cmd_clean() {
    stop_dev_services
    if [ -d "$DEV_DIR" ]; then
        say "Removing .dev/ (private service data, generated settings and secrets)"
        rm -rf "$DEV_DIR"
    fi
}

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
    local command="${1:-}"
    [ $# -gt 0 ] && shift
    case "$command" in
        install)  cmd_install ;;
        services) cmd_services ;;
        migrate)  cmd_migrate ;;
        seed)     cmd_seed ;;
        run)      cmd_run ;;
        test)     cmd_test "$@" ;;
        bench)    cmd_bench "$@" ;;
        stop)     cmd_stop ;;
        clean)    cmd_clean ;;
        -h|--help|help|'') usage ;;
        *) usage >&2; die "unknown command: $command" ;;
    esac
}

main "$@"
