#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the tests (SPEC §13), from Debian's postgresql package:
#   scripts/pg.sh start DIR [PORT]   initialise DIR (if new) and start a server on 127.0.0.1:PORT;
#                                     prints the connection URL
#   scripts/pg.sh stop DIR           stop it (fast shutdown)
# PG_OPTS adds server settings (`-c name=value …`), as the benchmarks' larger buffers.
# The server trusts local connections (it listens on 127.0.0.1 only and lives as long as a test
# run). As root it runs as the `postgres` user, which the package creates.
set -euo pipefail
cmd=${1:?usage: scripts/pg.sh start|stop DIR [PORT]}
dir=${2:?usage: scripts/pg.sh start|stop DIR [PORT]}
port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL is not installed: run scripts/install-deps.sh" >&2; exit 1; }
as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    as "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on -c synchronous_commit=on ${PG_OPTS:-}" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/postmaster.pid" ] && as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
