#!/usr/bin/env bash
# Makes sure the PostgreSQL server named by $1 answers; on a machine where the
# local cluster is installed but stopped (a fresh CI machine), starts it.
set -euo pipefail
url="${1:-postgresql://postgres@127.0.0.1:5432/postgres}"

ready() { pg_isready -d "$url" -t 2 >/dev/null 2>&1 || psql "$url" -Atc 'SELECT 1' >/dev/null 2>&1; }

if ready; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  done
fi
for _ in $(seq 1 30); do
  if ready; then exit 0; fi
  sleep 1
done
echo "ensure-postgres.sh: PostgreSQL at $url does not answer" >&2
exit 1
