#!/usr/bin/env bash
# The fault suite's own PostgreSQL cluster, which it may restart at will without touching anyone else's:
#   postgres.sh up|stop|down DIR PORT LISTEN_ADDRESSES ALLOWED_NETWORK
# `up` creates the cluster (trust auth, a `polls` superuser) if missing and starts it; `stop` is a fast stop
# (open connections are cut, as in a failover); `down` stops it and deletes its data.
set -euo pipefail
action=$1 dir=$2 port=$3 listen=$4 network=$5
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { su postgres -c "$*"; }

start() {
  as_postgres "$bin/pg_ctl -D $dir -l $dir/server.log -w -t 60 \
    -o \"-p $port -k /tmp -c listen_addresses='$listen' -c max_connections=300 -c fsync=off\" start" >&2
}

case "$action" in
  up)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"; chown postgres "$dir"; chmod 700 "$dir"
      as_postgres "$bin/initdb -D $dir -U postgres --auth=trust" >/dev/null
      echo "host all all $network trust" >> "$dir/pg_hba.conf"
    fi
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || start
    psql -h 127.0.0.1 -p "$port" -U postgres -qtAc "SELECT 1 FROM pg_roles WHERE rolname='polls'" | grep -q 1 ||
      psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE ROLE polls LOGIN SUPERUSER PASSWORD 'polls'" \
        -c "CREATE DATABASE polls OWNER polls" >&2
    ;;
  stop) as_postgres "$bin/pg_ctl -D $dir -m fast -w stop" >&2 ;;
  down)
    [ -f "$dir/postmaster.pid" ] && as_postgres "$bin/pg_ctl -D $dir -m immediate -w stop" >&2 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 up|stop|down DIR PORT LISTEN_ADDRESSES ALLOWED_NETWORK" >&2; exit 2 ;;
esac
