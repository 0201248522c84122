#!/bin/bash
# Creates the database cluster in $PGDATA on the first start (superuser $POSTGRES_USER with $POSTGRES_PASSWORD,
# database $POSTGRES_DB), then runs the command. Password logins over the network: the superuser to any database,
# every other role only to the database of its own name (pg_hba `sameuser`), which is how the platform's db-init
# Job names each service's role and database; that Job also revokes CONNECT from PUBLIC, so the grant, not only
# this file, keeps one service's role out of another's database.
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >> "$PGDATA/postgresql.conf"
  {
    echo "host all $POSTGRES_USER all scram-sha-256"
    echo "host sameuser all all scram-sha-256"
  } >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    postgres --single -D "$PGDATA" postgres <<< "CREATE DATABASE \"$POSTGRES_DB\";" >/dev/null
  fi
fi
exec "$@"
