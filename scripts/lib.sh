# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/demo and .ci/run.
# Sourced, not executed: it defines variables and functions only
# (the SC2034 "unused" variables below are used by the sourcing scripts).

if [ -z "${BASH_VERSION:-}" ]; then
    echo "scripts/lib.sh must be sourced by bash" >&2
    return 1
fi

# System packages needed to build the service (TLS, PostgreSQL client
# library, and the XML / xmlsec stack used by the SAML features).
# shellcheck disable=SC2034
SPORTELLO_BUILD_DEPS=(
    pkg-config
    libssl-dev
    libpq-dev
    libxml2-dev
    libxmlsec1-dev
    libxmlsec1-openssl
    xmlsec1
    clang
    libclang-dev
    openssl
    ca-certificates
)

# Extra system packages needed to run the test suite.
# shellcheck disable=SC2034
SPORTELLO_TEST_DEPS=(
    postgresql
    postgresql-contrib
    python3-venv
)

# Repository root (the parent of the directory holding this file).
# shellcheck disable=SC2034
SPORTELLO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() {
    printf '==> %s\n' "$*" >&2
}

die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# Print a banner for a new section of output.
section() {
    printf '\n========================================================================\n'
    printf '== %s\n' "$*"
    printf '========================================================================\n'
}

# Make sure cargo is available; rustup installs it in ~/.cargo/bin, which a
# non-login shell may not have on its PATH yet.
require_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
        if [[ -x "$cargo_bin/cargo" ]]; then
            PATH="$cargo_bin:$PATH"
            export PATH
        fi
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo non trovato: installa Rust (>= 1.85) con rustup, https://rustup.rs / cargo not found: install Rust (>= 1.85) with rustup, https://rustup.rs" >&2
        exit 1
    fi
}

# Make sure a cargo subcommand shipped as a rustup component is available.
# Usage: require_cargo_component clippy   (or: fmt)
require_cargo_component() {
    local sub="$1" component="$1"
    [[ "$sub" == fmt ]] && component=rustfmt
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        echo "cargo $sub non disponibile: esegui 'rustup component add $component' / cargo $sub not available: run 'rustup component add $component'" >&2
        exit 1
    fi
}

# Run a command as root: directly when we are root, through sudo otherwise.
_as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 127
    fi
}

# ensure_apt_packages pkg...
# Installs, with apt-get, those of the given Debian packages that are not
# installed yet. Does nothing (and needs no privileges) when all are present.
ensure_apt_packages() {
    local pkg status
    local -a missing=()
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        if [[ "$status" != *"ok installed"* ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi

    log "Installing missing system packages: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        die "apt-get not found; please install these packages by hand: ${missing[*]}"
    fi
    if [[ "$(id -u)" -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        die "root privileges are needed to install: ${missing[*]}
       Run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    fi

    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    _as_root "${apt[@]}" update \
        || die "apt-get update failed"
    _as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
}

# --- Throw-away PostgreSQL server for the test suite ------------------------

SPORTELLO_TEST_PG_DIR=""
SPORTELLO_TEST_PG_BINDIR=""

# Run a PostgreSQL server program. PostgreSQL refuses to run as root, so when
# we are root it runs as the `postgres` system user (created by the Debian
# packages). Runs from / so that an unreadable cwd does not cause warnings.
_pg_run() {
    if [[ "$(id -u)" -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Print a free TCP port on 127.0.0.1.
_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
    else
        # Fallback: a random high port nobody is listening on.
        local port
        while :; do
            port=$((20000 + RANDOM % 40000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return 0
            fi
        done
    fi
}

# start_test_postgres
# Starts a private, throw-away PostgreSQL server on 127.0.0.1 and exports
# SPORTELLO_TEST_PG_URL. Install stop_test_postgres in an EXIT trap first.
start_test_postgres() {
    local bindir
    bindir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$bindir" || ! -x "$bindir/initdb" || ! -x "$bindir/pg_ctl" ]]; then
        die "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin (package: postgresql)"
    fi
    SPORTELLO_TEST_PG_BINDIR="$bindir"

    if [[ "$(id -u)" -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        die "the 'postgres' system user does not exist (is the postgresql package installed?)"
    fi

    # As root the server runs as `postgres`, which must be able to reach the
    # directory: use /tmp rather than a possibly private $TMPDIR.
    local tmpbase="${TMPDIR:-/tmp}"
    [[ "$(id -u)" -ne 0 ]] || tmpbase=/tmp
    local dir
    dir="$(mktemp -d "$tmpbase/sportello-pg.XXXXXX")" || die "mktemp failed"
    SPORTELLO_TEST_PG_DIR="$dir"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown postgres: "$dir"
    fi

    local -a locale_opt=(--no-locale)
    if grep -qiE '^c\.utf-?8$' <<<"$(locale -a 2>/dev/null || true)"; then
        locale_opt=(--locale=C.UTF-8)
    fi

    log "Creating a throw-away PostgreSQL cluster in $dir"
    if ! _pg_run "$bindir/initdb" -D "$dir" --auth=trust --username=sportello \
        --encoding=UTF8 "${locale_opt[@]}" >"$dir.initdb.log" 2>&1; then
        cat "$dir.initdb.log" >&2
        rm -f "$dir.initdb.log"
        die "initdb failed"
    fi
    rm -f "$dir.initdb.log"

    local logfile="$dir/postgres.log" port="" attempt started=0 out=""
    for attempt in 1 2 3; do
        port="$(_free_port)"
        if out="$(_pg_run "$bindir/pg_ctl" -w -t 30 -D "$dir" -l "$logfile" \
            -o "-h 127.0.0.1 -p $port -k '$dir' -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300" \
            start 2>&1)"; then
            started=1
            break
        fi
        # Another process may have grabbed the port in the meantime: retry.
        if ! grep -q 'could not bind' "$logfile" 2>/dev/null; then
            break
        fi
        log "Port $port was taken, retrying (attempt $attempt)"
    done
    if [[ $started -ne 1 ]]; then
        printf '%s\n' "$out" >&2
        cat "$logfile" >&2 2>/dev/null || true
        die "PostgreSQL did not start (log above)"
    fi

    local deadline=$((SECONDS + 30))
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; do
        if ((SECONDS >= deadline)); then
            cat "$logfile" >&2 || true
            die "PostgreSQL is not accepting connections on 127.0.0.1:$port after 30 s"
        fi
        sleep 0.2
    done

    export SPORTELLO_TEST_PG_URL="postgres://sportello@127.0.0.1:$port/postgres"
    log "PostgreSQL ready: $SPORTELLO_TEST_PG_URL"
}

# stop_test_postgres
# Stops the server started by start_test_postgres and deletes its data.
# Safe to call more than once, or when the start failed half-way.
stop_test_postgres() {
    local dir="${SPORTELLO_TEST_PG_DIR:-}"
    [[ -n "$dir" ]] || return 0
    if [[ -f "$dir/postmaster.pid" && -n "$SPORTELLO_TEST_PG_BINDIR" ]]; then
        _pg_run "$SPORTELLO_TEST_PG_BINDIR/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$dir" "$dir.initdb.log" || true
    SPORTELLO_TEST_PG_DIR=""
    unset SPORTELLO_TEST_PG_URL
}

# Python packages of the test peers: the SMTP server the mail tests talk to, the validator
# of SPID SP certificates (Avviso SPID n. 29 v3) and AgID's SPID SP conformance tool.
SPORTELLO_TEST_PY_PACKAGES=(
    aiosmtpd==1.4.6
    spid-compliant-certificates==0.5.5
    spid-sp-test==1.2.18
)

# ensure_test_venv: a virtualenv under target/ with the test peers' Python packages;
# exports SPORTELLO_TEST_PYTHON. Reused between runs; reinstalled when the list changes.
ensure_test_venv() {
    local venv="$SPORTELLO_ROOT/target/test-venv"
    local stamp="$venv/.packages"
    local wanted="${SPORTELLO_TEST_PY_PACKAGES[*]}"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        log "Creating the test virtualenv ($wanted)"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create $venv (is python3-venv installed?)"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${SPORTELLO_TEST_PY_PACKAGES[@]}" \
            || die "cannot install the test peers' Python packages"
        printf '%s' "$wanted" >"$stamp"
    fi
    export SPORTELLO_TEST_PYTHON="$venv/bin/python"
}
