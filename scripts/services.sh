# shellcheck shell=bash
# Postgres and Redis for development and tests. Sourced by scripts/dev.sh after common.sh.
#
# Order of preference for each service:
#   1. DATABASE_URL / REDIS_URL set by you (environment or .env): used as given, or a clear error;
#   2. a private instance under .dev/ that an earlier run started and that is still running;
#   3. the machine's server on 127.0.0.1 at the default port (5432 / 6379);
#   4. a private instance under .dev/ started now, on the default port or the next free one,
#      after installing the Debian package if the server binaries are missing.
#
# Knobs: SDR_PG_PORT / SDR_REDIS_PORT (default ports probed and preferred for .dev instances),
# SDR_PG_USER (role used on the machine's server, default postgres), SDR_DB_NAME (default sdr).

SVC_HOST=127.0.0.1
PG_DEFAULT_PORT="${SDR_PG_PORT:-5432}"
REDIS_DEFAULT_PORT="${SDR_REDIS_PORT:-6379}"
PG_ROLE="${SDR_PG_USER:-postgres}"
DB_NAME="${SDR_DB_NAME:-sdr}"

PG_DATA="$DEV_DIR/pg"          # data directory of the private Postgres
PG_RUN="$DEV_DIR/pgrun"        # its socket and log
REDIS_DIR="$DEV_DIR/redis"     # the private Redis' pid file, port file and log

# Results of ensure_postgres / ensure_redis.
PG_SERVER_URL=""   # a URL to the chosen Postgres server (database part is replaced as needed)
PG_SOURCE=""       # one line saying what is used
REDIS_BASE_URL=""  # redis://host:port (no database number), unless REDIS_URL was set by the user
REDIS_SOURCE=""

devtool() { "${DEVTOOL[@]}" "$@"; }

# ---------------------------------------------------------------- postgres

pg_bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# The OS user that owns and runs the private cluster: initdb refuses to run as root.
pg_os_user() {
    if [ "$(id -u)" != 0 ]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        id sdr-postgres >/dev/null 2>&1 \
            || useradd --system --no-create-home --shell /usr/sbin/nologin sdr-postgres >&2 \
            || return 1
        echo sdr-postgres
    fi
}

as_pg_user() {
    local user="$1"; shift
    if [ "$(id -u)" = 0 ] && [ "$user" != root ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

dev_pg_running_port() {
    local bindir user
    [ -f "$PG_DATA/postmaster.pid" ] || return 1
    bindir="$(pg_bindir)" || return 1
    user="$(stat -c %U "$PG_DATA")"
    as_pg_user "$user" "$bindir/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 || return 1
    sed -n 4p "$PG_DATA/postmaster.pid"
}

pg_url() { echo "postgresql://$1@$SVC_HOST:$2/${3:-postgres}"; }

# start_dev_postgres PORT : initdb (first time) and start the private cluster; echoes nothing.
start_dev_postgres() {
    local port="$1" bindir user
    bindir="$(pg_bindir)" || { echo "no initdb/pg_ctl under /usr/lib/postgresql/*/bin" >&2; return 1; }
    user="$(pg_os_user)" || { echo "could not find or create an OS user to run Postgres" >&2; return 1; }

    mkdir -p "$DEV_DIR"
    if [ ! -d "$PG_DATA" ]; then
        mkdir -p "$PG_DATA"
    fi
    mkdir -p "$PG_RUN"
    if [ "$(id -u)" = 0 ]; then
        chown -R "$user:" "$PG_DATA" "$PG_RUN"
    fi
    chmod 700 "$PG_DATA"
    if ! as_pg_user "$user" test -w "$PG_DATA" -a -x "$PG_DATA"; then
        echo "the OS user '$user' cannot write $PG_DATA (is a parent directory of the repository closed to it?)" >&2
        return 1
    fi

    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        say "Initialising a private Postgres cluster in .dev/pg (as OS user '$user')"
        as_pg_user "$user" "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"$PG_RUN/initdb.log" 2>&1 \
            || { echo "initdb failed; see .dev/pgrun/initdb.log: $(tail -n 1 "$PG_RUN/initdb.log")" >&2; return 1; }
        echo "include_if_exists = 'sdr-dev.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    # Rewritten at every start so a moved checkout or a new port just works. Connections use TCP;
    # the Unix socket (handy for psql -h .dev/pgrun) is left out if its path would be too long.
    local sockdir="$PG_RUN"
    [ "${#sockdir}" -le 90 ] || sockdir=""
    cat >"$PG_DATA/sdr-dev.conf" <<EOF
port = $port
listen_addresses = '$SVC_HOST'
unix_socket_directories = '$sockdir'
EOF
    [ "$(id -u)" = 0 ] && chown "$user:" "$PG_DATA/sdr-dev.conf"

    say "Starting the private Postgres (.dev/pg) on $SVC_HOST:$port"
    # (3>&-: the server must not hold on to the caller's descriptors, or a pipe reading this
    # script's output would never see its end.)
    as_pg_user "$user" "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_RUN/postgres.log" -w -t 60 start >/dev/null 3>&- \
        || { echo "pg_ctl start failed; see .dev/pgrun/postgres.log: $(tail -n 2 "$PG_RUN/postgres.log" 2>/dev/null | tr '\n' ' ')" >&2; return 1; }
}

ensure_postgres() {
    local port err url

    if is_user_set DATABASE_URL; then
        PG_SERVER_URL="$DATABASE_URL"
        PG_SOURCE="DATABASE_URL (set by you): $(devtool redact "$DATABASE_URL")"
        return 0   # checked (and its database created) by ensure_database
    fi

    if port="$(dev_pg_running_port)" && devtool pg-check "$(pg_url postgres "$port")" 2>/dev/null; then
        PG_SERVER_URL="$(pg_url postgres "$port")"
        PG_SOURCE="private instance .dev/pg on $SVC_HOST:$port (already running)"
        return 0
    fi

    url="$(pg_url "$PG_ROLE" "$PG_DEFAULT_PORT")"
    if err="$(devtool pg-check "$url" 2>&1)"; then
        PG_SERVER_URL="$url"
        PG_SOURCE="the machine's server on $SVC_HOST:$PG_DEFAULT_PORT (already running)"
        return 0
    fi
    note "Postgres at $SVC_HOST:$PG_DEFAULT_PORT is not usable ($err); starting a private instance"

    if ! pg_bindir >/dev/null; then
        apt_install postgresql \
            || die "Postgres at $SVC_HOST:$PG_DEFAULT_PORT is not reachable and could not be started: the server binaries are missing and 'apt-get install postgresql' failed"
        if devtool pg-check "$url" 2>/dev/null; then
            PG_SERVER_URL="$url"
            PG_SOURCE="the machine's server on $SVC_HOST:$PG_DEFAULT_PORT (started by its Debian package)"
            return 0
        fi
    fi

    # Keep the port of an earlier private instance if it is free, else the default, else the next free one.
    local previous=""
    [ -f "$PG_DATA/sdr-dev.conf" ] && previous="$(sed -n 's/^port = //p' "$PG_DATA/sdr-dev.conf")"
    if [ -n "$previous" ] && devtool port-free "$previous" 2>/dev/null; then
        port="$previous"
    elif devtool port-free "$PG_DEFAULT_PORT" 2>/dev/null; then
        port="$PG_DEFAULT_PORT"
    else
        port="$(devtool free-port "$((PG_DEFAULT_PORT + 1))")" \
            || die "Postgres at $SVC_HOST:$PG_DEFAULT_PORT is not reachable and could not be started: no free port near $PG_DEFAULT_PORT"
    fi
    { err="$(start_dev_postgres "$port" 2>&1 1>&3)"; } 3>&1 \
        || die "Postgres at $SVC_HOST:$PG_DEFAULT_PORT is not reachable and could not be started: $err"
    url="$(pg_url postgres "$port")"
    err="$(devtool pg-check "$url" --timeout 10 2>&1)" \
        || die "the private Postgres started on $SVC_HOST:$port but does not accept connections: $err"
    PG_SERVER_URL="$url"
    PG_SOURCE="private instance .dev/pg on $SVC_HOST:$port (started now)"
}

# ensure_database URL : check the server behind URL and create URL's database if it is missing.
ensure_database() {
    local url="$1" out origin=""
    is_user_set DATABASE_URL && [ "$url" = "${DATABASE_URL-}" ] && origin=" (DATABASE_URL, set by you)"
    out="$(devtool pg-ensure-db "$url" 2>&1)" \
        || die "Postgres at $(devtool redact "$url")$origin is not reachable or usable: $out"
    note "$out"
}

# ---------------------------------------------------------------- redis

dev_redis_running_port() {
    local pid port
    [ -f "$REDIS_DIR/redis.pid" ] && [ -f "$REDIS_DIR/port" ] || return 1
    pid="$(cat "$REDIS_DIR/redis.pid")"; port="$(cat "$REDIS_DIR/port")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$port"
}

start_dev_redis() {
    local port="$1"
    command -v redis-server >/dev/null 2>&1 || { echo "redis-server is not installed" >&2; return 1; }
    mkdir -p "$REDIS_DIR"
    say "Starting the private Redis (.dev/redis) on $SVC_HOST:$port"
    redis-server --daemonize yes --bind "$SVC_HOST" --port "$port" --save "" --appendonly no \
        --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --pidfile "$REDIS_DIR/redis.pid" \
        </dev/null >/dev/null 3>&- \
        || { echo "redis-server did not start; see .dev/redis/redis.log" >&2; return 1; }
    echo "$port" >"$REDIS_DIR/port"
}

ensure_redis() {
    local port err url

    if is_user_set REDIS_URL; then
        err="$(devtool redis-check "$REDIS_URL" 2>&1)" \
            || die "Redis at $(devtool redact "$REDIS_URL") (REDIS_URL, set by you) is not reachable: $err"
        REDIS_BASE_URL=""
        REDIS_SOURCE="REDIS_URL (set by you): $(devtool redact "$REDIS_URL")"
        return 0
    fi

    if port="$(dev_redis_running_port)" && devtool redis-check "redis://$SVC_HOST:$port/0" 2>/dev/null; then
        REDIS_BASE_URL="redis://$SVC_HOST:$port"
        REDIS_SOURCE="private instance .dev/redis on $SVC_HOST:$port (already running)"
        return 0
    fi

    url="redis://$SVC_HOST:$REDIS_DEFAULT_PORT"
    if err="$(devtool redis-check "$url/0" 2>&1)"; then
        REDIS_BASE_URL="$url"
        REDIS_SOURCE="the machine's server on $SVC_HOST:$REDIS_DEFAULT_PORT (already running)"
        return 0
    fi
    note "Redis at $SVC_HOST:$REDIS_DEFAULT_PORT is not usable ($err); starting a private instance"

    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server \
            || die "Redis at $SVC_HOST:$REDIS_DEFAULT_PORT is not reachable and could not be started: redis-server is missing and 'apt-get install redis-server' failed"
        if devtool redis-check "$url/0" 2>/dev/null; then
            REDIS_BASE_URL="$url"
            REDIS_SOURCE="the machine's server on $SVC_HOST:$REDIS_DEFAULT_PORT (started by its Debian package)"
            return 0
        fi
    fi

    local previous=""
    [ -f "$REDIS_DIR/port" ] && previous="$(cat "$REDIS_DIR/port")"
    if [ -n "$previous" ] && devtool port-free "$previous" 2>/dev/null; then
        port="$previous"
    elif devtool port-free "$REDIS_DEFAULT_PORT" 2>/dev/null; then
        port="$REDIS_DEFAULT_PORT"
    else
        port="$(devtool free-port "$((REDIS_DEFAULT_PORT + 1))")" \
            || die "Redis at $SVC_HOST:$REDIS_DEFAULT_PORT is not reachable and could not be started: no free port near $REDIS_DEFAULT_PORT"
    fi
    { err="$(start_dev_redis "$port" 2>&1 1>&3)"; } 3>&1 \
        || die "Redis at $SVC_HOST:$REDIS_DEFAULT_PORT is not reachable and could not be started: $err"
    local i
    for i in $(seq 1 40); do
        devtool redis-check "redis://$SVC_HOST:$port/0" 2>/dev/null && break
        sleep 0.25
    done
    err="$(devtool redis-check "redis://$SVC_HOST:$port/0" 2>&1)" \
        || die "the private Redis started on $SVC_HOST:$port but does not answer PING: $err"
    REDIS_BASE_URL="redis://$SVC_HOST:$port"
    REDIS_SOURCE="private instance .dev/redis on $SVC_HOST:$port (started now)"
}

# ---------------------------------------------------------------- stop

stop_dev_services() {
    local bindir user pid port
    if [ -f "$PG_DATA/PG_VERSION" ] && [ -f "$PG_DATA/postmaster.pid" ] && bindir="$(pg_bindir)"; then
        user="$(stat -c %U "$PG_DATA")"
        if as_pg_user "$user" "$bindir/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
            say "Stopping the private Postgres (.dev/pg)"
            as_pg_user "$user" "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null \
                || warn "pg_ctl stop failed for .dev/pg"
        fi
    fi
    if port="$(dev_redis_running_port)"; then
        pid="$(cat "$REDIS_DIR/redis.pid")"
        say "Stopping the private Redis (.dev/redis, pid $pid, port $port)"
        kill "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$pid" 2>/dev/null && warn "Redis pid $pid did not stop"
    fi
    return 0
}
