#!/usr/bin/env bash
# Makes sure the PostgreSQL server named by $1 answers and lets its user in; on a machine where
# the local cluster is installed but stopped (a fresh CI machine), starts it. The tests take their
# credentials from this URL only (TEST_PG_URL): a server that asks for a password (Debian's default
# for 127.0.0.1) needs them in it, e.g. postgresql://postgres:secret@127.0.0.1:5432/postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-postgresql://postgres@127.0.0.1:5432/postgres}"

# The server accepts connections (no credentials needed for this).
answers() {
  if command -v pg_isready >/dev/null 2>&1; then pg_isready -d "$url" -t 2 >/dev/null 2>&1; else log_in >/dev/null 2>&1; fi
}
# The URL's user gets in; prints the server's refusal otherwise. node-postgres, as the tests use.
log_in() {
  node -e '
    const pg = require("pg");
    const client = new pg.Client({ connectionString: process.argv[1], connectionTimeoutMillis: 5000 });
    client.connect().then(() => client.query("SELECT 1")).then(() => client.end(), (err) => { console.error(err.message); process.exit(1); });
  ' "$url"
}
# The URL without its password, for messages.
shown() { node -e 'const u = new URL(process.argv[1]); if (u.password) u.password = "***"; console.log(u.toString())' "$url"; }

if ! answers; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
  fi
  for _ in $(seq 1 30); do
    if answers; then break; fi
    sleep 1
  done
  answers || { echo "ensure-postgres.sh: PostgreSQL at $(shown) does not answer" >&2; exit 1; }
fi
if ! refusal="$(log_in 2>&1)"; then
  echo "ensure-postgres.sh: PostgreSQL at $(shown) answers but refuses its user: $refusal" >&2
  echo "ensure-postgres.sh: put the user and password in TEST_PG_URL (postgresql://user:password@host:port/postgres); the user creates databases" >&2
  exit 1
fi
