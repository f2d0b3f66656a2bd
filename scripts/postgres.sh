#!/usr/bin/env bash
# Makes sure a local PostgreSQL accepts neutrino:neutrino@127.0.0.1:5432 (for the PostgreSQL
# test dialect). Starts Debian's cluster if it is installed and stopped. Exit 1 if impossible.
set -euo pipefail
command -v pg_lsclusters >/dev/null || exit 1
read -r ver name _ < <(pg_lsclusters -h | head -n1) || exit 1
[[ -n ${ver:-} ]] || exit 1
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_ctlcluster "$ver" "$name" start
fi
for _ in $(seq 50); do
  runuser -u postgres -- psql -qAtc 'select 1' >/dev/null 2>&1 && break
  sleep 0.2
done
runuser -u postgres -- psql -qAt >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'neutrino') THEN
    CREATE ROLE neutrino LOGIN SUPERUSER PASSWORD 'neutrino';
  END IF;
END $$;
SQL
echo "postgres: ready"
