#!/usr/bin/env bash
# Runs every test against a real PostgreSQL and a real Kafka broker, both
# made ready here: a newcomer's `npm test` and CI's `.ci/run` are this script.
#
#   TEST_PG_URL      admin URL of the PostgreSQL server  (postgresql://postgres@127.0.0.1:5432/postgres)
#   SKIP_KAFKA=1     run without a broker (Kafka-only tests skip themselves)
#   TEST_FILES       run only these files (default: test/*.test.ts packages/*/test/*.test.ts)
set -euo pipefail
cd "$(dirname "$0")/.."

export NODE_ENV=test
export KAFKAJS_NO_PARTITIONER_WARNING=1
export TEST_PG_URL="${TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
# Databases of this run share a prefix, so the cleanup drops only ours.
export TEST_DB_PREFIX="gateway_test_$(date +%s)_$$_"

bash scripts/ensure-postgres.sh "$TEST_PG_URL"

# The generated Prisma client and Pothos types come from prisma/schema.prisma.
npx --no-install prisma generate >/dev/null

# Typed documents of the tests' operations, from the checked-in schema.
npx --no-install graphql-codegen --config codegen.ts >/dev/null

npx --no-install tsc --noEmit -p .
# One style for every source file (.prettierrc.json): `npm run format` writes it.
npx --no-install prettier --check --log-level warn "src/**/*.ts" "test/**/*.ts" "bench/**/*.ts" "scripts/**/*.ts" "packages/*/src/**/*.ts" "packages/*/test/**/*.ts" codegen.ts prisma.config.ts "prisma/*.ts" eslint.config.js "web/src/**/*.{ts,tsx}" "web/*.ts"
# The lint rules and the layout's import boundaries (eslint.config.js): errors fail the run.
npm run --silent lint
npx --no-install tsc --noEmit -p packages/amo-sim
# The admin page (web/): its typed operations and its build in web/dist, which the gateway serves
# at /admin and test/admin-*.test.ts drive in Chromium; then its own type-check.
# NODE_ENV=test (exported above) would make Vite bundle React's development build.
NODE_ENV=production npm run --silent build -w @quiz-gateway/web >/dev/null
npx --no-install tsc --noEmit -p web

started_kafka=0
if [[ "${SKIP_KAFKA:-0}" != "1" ]]; then
  if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    started_kafka=1
    # Another broker (another checkout's) may hold the default ports: then take free ones.
    port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
    if port_busy "${KAFKA_PORT:-19092}" || port_busy "${KAFKA_CONTROLLER_PORT:-19093}"; then
      export KAFKA_PORT="$(free_port)" KAFKA_CONTROLLER_PORT="$(free_port)"
    fi
  fi
  export KAFKA_BROKERS="$(bash scripts/kafka.sh start | sed -n 's/^KAFKA_BROKERS=//p' | tail -n 1)"
  [[ -n "$KAFKA_BROKERS" ]] || { echo "test.sh: the Kafka broker did not start" >&2; exit 1; }
fi
cleanup() {
  if [[ "$started_kafka" == "1" ]]; then bash scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
  node --import tsx scripts/drop-test-databases.ts >/dev/null 2>&1 || true
}
trap cleanup EXIT

# shellcheck disable=SC2086
files=${TEST_FILES:-$(ls test/*.test.ts packages/*/test/*.test.ts)}
node --import tsx --test --test-concurrency=2 --test-timeout=600000 $files

# The tests that stop and start the broker run alone, after everything else.
if [[ "${SKIP_KAFKA:-0}" != "1" && -z "${TEST_FILES:-}" ]]; then
  KAFKA_RESTART_TEST=1 node --import tsx --test --test-concurrency=1 --test-timeout=600000 \
    --test-name-pattern='restart' test/queue.test.ts test/sync.test.ts
fi
