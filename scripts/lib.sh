# Shared helpers for scripts/demo and scripts/test. Sourced, not executed.
# Installs only what is missing (Debian packages) and manages a throw-away PostgreSQL.

# C libraries and tools the build needs (diesel: libpq; SAML: libxml2/xmlsec1 + clang).
SPORTELLO_BUILD_DEPS=(pkg-config libssl-dev libpq-dev libxml2-dev libxmlsec1-dev
  libxmlsec1-openssl xmlsec1 clang libclang-dev openssl ca-certificates)
# What the test suite starts on 127.0.0.1.
SPORTELLO_TEST_DEPS=(postgresql postgresql-contrib python3-venv)

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    die "cargo non trovato / cargo not found: install Rust (https://rustup.rs), then run this again"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# ensure_apt_packages pkg... : installs the packages that are not installed yet.
ensure_apt_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  printf '%s' "$d"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres OS user when we are root (PostgreSQL refuses to run as root).
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_test_postgres: a fresh cluster in a temp dir on 127.0.0.1, trust auth, fsync off
# (throw-away data). Exports SPORTELLO_TEST_PG_URL. Pair with stop_test_postgres in a trap.
start_test_postgres() {
  local bin port
  bin=$(pg_bindir)
  PG_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sportello-pg.XXXXXX")
  [ "$(id -u)" -eq 0 ] && chown postgres "$PG_TEST_DIR"
  as_pg_user "$bin/initdb" -D "$PG_TEST_DIR/data" --auth=trust --username=sportello \
    --encoding=UTF8 --no-locale >"$PG_TEST_DIR/initdb.log" 2>&1 \
    || { cat "$PG_TEST_DIR/initdb.log" >&2; die "initdb failed"; }
  port=$(free_port)
  as_pg_user "$bin/pg_ctl" -w -t 30 -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" \
    -o "-h 127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=400" \
    start >/dev/null \
    || { cat "$PG_TEST_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  PG_TEST_BIN=$bin
  export SPORTELLO_TEST_PG_URL="postgres://sportello@127.0.0.1:$port/postgres"
  say "PostgreSQL test server on 127.0.0.1:$port"
}

stop_test_postgres() {
  if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR" ]; then
    as_pg_user "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
    PG_TEST_DIR=
  fi
}
