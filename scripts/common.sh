# shellcheck shell=bash
# Shared helpers for scripts/dev.sh: messages, the virtualenv, environment files, apt.
# Sourced, not executed. Expects ROOT (the repository root) to be set.

DEV_DIR="$ROOT/.dev"
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
DEVTOOL=("$VPY" "$ROOT/scripts/devtool.py")
DEV_ENV_FILE="$DEV_DIR/env"
USER_ENV_FILE="$ROOT/.env"

# ---------------------------------------------------------------- messages

say()  { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- privileges / apt

# Run a command as root: directly when we are root, through passwordless sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        echo "not root and no passwordless sudo to run: $*" >&2
        return 1
    fi
}

# apt_install PKG... : install Debian packages (no recommends), retrying once after `apt-get update`.
# apt's output goes to .dev/logs/apt.log; its last lines are shown if it fails.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "apt-get is not available" >&2; return 1; }
    local log="$DEV_DIR/logs/apt.log"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=180)
    mkdir -p "$(dirname "$log")"
    say "Installing Debian packages: $* (log: .dev/logs/apt.log)"
    if as_root "${apt[@]}" install --no-install-recommends "$@" >>"$log" 2>&1; then
        return 0
    fi
    note "install failed; refreshing the package lists and trying again"
    if as_root "${apt[@]}" update >>"$log" 2>&1 \
        && as_root "${apt[@]}" install --no-install-recommends "$@" >>"$log" 2>&1; then
        return 0
    fi
    tail -n 5 "$log" >&2
    return 1
}

# ---------------------------------------------------------------- virtualenv

# The stamp records what the last successful install was made from: pyproject.toml, the
# interpreter, and which top-level packages exist (an editable install maps those at install time).
install_fingerprint() {
    {
        sha256sum "$ROOT/pyproject.toml"
        "$VPY" -c 'import sys; print(sys.version)'
        (cd "$ROOT" && ls -d -- */__init__.py 2>/dev/null || true)
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null 2>&1 || die "$py not found; install Python 3.11+ (or set PYTHON=/path/to/python3.11)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$py is $("$py" -V 2>&1); sdr needs Python 3.11 or newer (set PYTHON=...)"

    if [ -x "$VPY" ] && ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
        warn "$VENV is broken (its interpreter does not start); recreating it"
        "$py" -m venv --clear "$VENV" || die "could not recreate $VENV"
    elif [ ! -x "$VPY" ]; then
        say "Creating virtualenv .venv ($("$py" -V 2>&1))"
        "$py" -m venv "$VENV" \
            || die "could not create $VENV with '$py -m venv' (on Debian: apt-get install python3-venv)"
    fi

    local stamp="$VENV/.sdr-install-stamp" want
    want="$(install_fingerprint)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "Python packages: up to date (.venv, pyproject.toml unchanged since the last install)"
        return 0
    fi
    say "Installing sdr and its pinned dependencies into .venv (pip install -e '.[test]')"
    # (The filter drops pip's notes about configured package locations that do not exist.)
    (cd "$ROOT" && "$VPY" -m pip install --disable-pip-version-check -q -e '.[test]' \
        2> >(grep -v --line-buffered 'is ignored: it is neither a file nor a directory' >&2)) \
        || die "pip install -e '.[test]' failed (see the pip output above)"
    install_fingerprint >"$stamp"
    say "Python packages: installed"
}

# ---------------------------------------------------------------- environment files

# Which variables the user set (process environment or .env). Those always win over .dev/env.
declare -gA USER_SET=()

# Snapshot the process environment: call once, before anything is exported.
snapshot_user_env() {
    local name
    while IFS= read -r name; do
        [ -n "${!name-}" ] && USER_SET["$name"]=1
    done < <(compgen -e)
}

is_user_set() { [ -n "${USER_SET[$1]-}" ]; }

# read_env_file FILE : print "KEY<TAB>VALUE" for each assignment (no shell evaluation).
# Accepts `KEY=value`, `export KEY=value`, and single- or double-quoted values; skips blanks and comments.
read_env_file() {
    [ -f "$1" ] || return 0
    local line key value
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line#"${line%%[![:space:]]*}"}"
        case "$line" in ''|'#'*) continue ;; esac
        line="${line#export }"
        key="${line%%=*}"
        [ "$key" != "$line" ] || continue
        key="${key%"${key##*[![:space:]]}"}"
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
        value="${line#*=}"
        value="${value#"${value%%[![:space:]]*}"}"
        if [[ "$value" =~ ^\"([^\"]*)\" ]] || [[ "$value" =~ ^\'([^\']*)\' ]]; then
            value="${BASH_REMATCH[1]}"
        else
            value="${value%%[[:space:]]#*}"
            value="${value%"${value##*[![:space:]]}"}"
        fi
        printf '%s\t%s\n' "$key" "$value"
    done <"$1"
}

# load_env_file FILE [as-user|-] [KEY...] : export each non-empty variable that the user has not set
# (only the listed KEYs, if any). With "as-user", loaded variables count as user-set (.env is read so).
load_env_file() {
    local file="$1" mark="${2-}" key value
    shift; [ $# -gt 0 ] && shift
    local only=" $* "
    while IFS=$'\t' read -r key value; do
        [ -n "$value" ] || continue
        [ $# -eq 0 ] || [[ "$only" == *" $key "* ]] || continue
        is_user_set "$key" && continue
        export "$key=$value"
        [ "$mark" = as-user ] && USER_SET["$key"]=1
    done < <(read_env_file "$file")
    return 0
}

# env_file_get KEY : the value of KEY in .dev/env (empty if absent).
env_file_get() {
    read_env_file "$DEV_ENV_FILE" | awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print v }'
}

# env_file_set KEY VALUE : add or replace KEY in .dev/env.
env_file_set() {
    local key="$1" value="$2" tmp
    tmp="$(mktemp "$DEV_DIR/env.XXXXXX")"
    if [ -f "$DEV_ENV_FILE" ]; then
        awk -v k="$key" 'index($0, k "=") != 1' "$DEV_ENV_FILE" >"$tmp"
    fi
    printf '%s=%s\n' "$key" "$value" >>"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$DEV_ENV_FILE"
}

# env_file_default KEY VALUE : add KEY to .dev/env only if it is not there yet.
env_file_default() {
    [ -n "$(env_file_get "$1")" ] || env_file_set "$1" "$2"
}

new_secret() {
    python3 -c 'import secrets; print(secrets.token_hex(24))'
}

# Write the generated part of the configuration once; secrets are kept across runs.
ensure_dev_env_file() {
    mkdir -p "$DEV_DIR"
    if [ ! -f "$DEV_ENV_FILE" ]; then
        say "Writing .dev/env (development settings and generated secrets; kept across runs)"
        {
            echo "# sdr development settings, generated by 'make run' / 'make services' and kept across runs."
            echo "# Variables set in your environment or in .env take precedence over these."
            echo "# DATABASE_URL and REDIS_URL are refreshed to the services found on each run."
        } >"$DEV_ENV_FILE"
        chmod 600 "$DEV_ENV_FILE"
    fi
    env_file_default SDR_ADMIN_TOKEN "$(new_secret)"
    env_file_default SDR_SANDBOX_SECRET "$(new_secret)"
    env_file_default FLOWER_BASIC_AUTH "admin:$(new_secret)"
    env_file_default EVOLUTION_API_URL "http://127.0.0.1:8200"
    env_file_default EVOLUTION_API_KEY "$(new_secret)"
    env_file_default EVOLUTION_INSTANCE "sdr-demo"
    env_file_default EVOLUTION_WEBHOOK_SECRET "$(new_secret)"
    env_file_default PORT 8000
    env_file_default SDR_BEAT_SCHEDULE_FILE ".dev/celerybeat-schedule"
}
