#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the tests of the PostgreSQL state backend.
#
#   eval "$(scripts/postgres.sh)"      start it (or find it running) and export PAI_TEST_POSTGRES_URL
#   scripts/postgres.sh stop           stop it and delete its data
#   scripts/postgres.sh running        exit 0 when it is running and accepts connections
#
# It uses Debian's `postgresql` package (installed with apt-get when missing and running as root),
# runs initdb/pg_ctl as the `postgres` user when run as root, listens on 127.0.0.1 only, on a free
# port, and trusts nobody: password (scram-sha-256) over TCP, peer on its own Unix socket for the
# setup below. The tests connect as the role `pai` with a random password kept in the data
# directory (mode 0600); `pai` may create schemas in the database `postgres`, nothing else.
# TLS is on with a self-signed certificate for 127.0.0.1 when openssl is available.
#
# Durability settings are off (fsync, synchronous_commit, full_page_writes): this server holds
# test data only, and a test never kills the server itself.
#
# Only the export line goes to stdout; progress goes to stderr.
set -euo pipefail

dir=${PAI_TEST_POSTGRES_DIR:-${TMPDIR:-/tmp}/pai-provision-postgres}
data=$dir/data
say() { echo "postgres.sh: $*" >&2; }

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $found ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      say "PostgreSQL is not installed; as root: apt-get install -y postgresql"
      exit 1
    fi
    say "installing PostgreSQL (Debian package postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

# Runs a PostgreSQL binary as the owner of the data directory.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 30000))
}

print_url() {
  echo "export PAI_TEST_POSTGRES_URL=postgres://pai:$(cat "$dir/password")@127.0.0.1:$(cat "$dir/port")/postgres"
}

# Accepting connections on its port (a stale postmaster.pid after a kill does not count).
running() {
  [[ -f $dir/port && -f $data/postmaster.pid ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")"
}

stop() {
  if [[ -f $data/postmaster.pid ]]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
  say "stopped; $dir removed"
}

start() {
  if running; then
    say "already running on port $(cat "$dir/port")"
    print_url
    return
  fi
  if [[ -f $data/postmaster.pid ]]; then
    # Left by a server that no longer answers: stop whatever is left of it before starting anew.
    as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >&2 2>/dev/null || true
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  local port password
  port=$(free_port)
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$port" >"$dir/port"
  (umask 077 && echo "$password" >"$dir/password")
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/superuser-password")
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
  fi

  say "initdb in $data"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --pwfile="$dir/superuser-password" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 200"
    echo "password_encryption = 'scram-sha-256'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
  } >>"$data/postgresql.conf"
  if command -v openssl >/dev/null; then
    as_owner openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1" -keyout "$data/server.key" -out "$data/server.crt" 2>/dev/null
    chmod 600 "$data/server.key"
    {
      echo "ssl = on"
      echo "ssl_cert_file = 'server.crt'"
      echo "ssl_key_file = 'server.key'"
    } >>"$data/postgresql.conf"
  fi
  # Nothing is trusted: peer on the socket (the setup below), passwords over TCP.
  cat >"$data/pg_hba.conf" <<EOF
local all all peer map=owner
host  all all 127.0.0.1/32 scram-sha-256
EOF
  echo "owner $(id -un) postgres" >"$data/pg_ident.conf"
  echo "owner postgres postgres" >>"$data/pg_ident.conf"

  say "starting on 127.0.0.1:$port"
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -v password="$password" >&2 <<'EOF'
CREATE ROLE pai LOGIN PASSWORD :'password';
GRANT CREATE ON DATABASE postgres TO pai;
EOF
  print_url
}

bin=$(bindir)
case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) print_url ;;
  running) running ;;
  *) say "usage: $0 [start|stop|url|running]"; exit 2 ;;
esac
