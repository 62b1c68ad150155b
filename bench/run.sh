#!/usr/bin/env bash
# Runs the benchmarks: all of them, or those named (`npm run bench -- read sync`).
# Scenarios: read, sync, delivery, subscriptions. Each prints its figures and ratios and keeps
# them in bench/out/<scenario>.json. Needs PostgreSQL (TEST_PG_URL, as the tests) and, for
# delivery, a Kafka broker: KAFKA_BROKERS when set, else a broker of the benchmarks' own
# (port 29092, data in .data/kafka-bench, so a parallel `npm test` starting or stopping the
# usual broker on 19092 does not disturb it), started here and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

export NODE_ENV=test
export KAFKAJS_NO_PARTITIONER_WARNING=1
export TEST_PG_URL="${TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
export LOG_LEVEL="${LOG_LEVEL:-silent}"
export TEST_LOG_LEVEL="${TEST_LOG_LEVEL:-silent}"

all=(read sync delivery subscriptions)
if [[ $# -gt 0 ]]; then scenarios=("$@"); else scenarios=("${all[@]}"); fi
for s in "${scenarios[@]}"; do
  [[ " ${all[*]} " == *" $s "* ]] || { echo "bench/run.sh: unknown scenario '$s' (one of: ${all[*]})" >&2; exit 2; }
done

bash scripts/ensure-postgres.sh "$TEST_PG_URL"
npx --no-install prisma generate >/dev/null

echo "machine: $(nproc) cores, node $(node --version)"
free -h | sed -n '1,2p'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

started_kafka=0
bench_kafka=(env KAFKA_PORT=29092 KAFKA_CONTROLLER_PORT=29093 KAFKA_DATA_DIR=.data/kafka-bench bash scripts/kafka.sh)
cleanup() {
  if [[ "$started_kafka" == "1" ]]; then "${bench_kafka[@]}" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [[ " ${scenarios[*]} " == *" delivery "* && -z "${KAFKA_BROKERS:-}" ]]; then
  if ! "${bench_kafka[@]}" status >/dev/null 2>&1; then started_kafka=1; fi
  KAFKA_BROKERS="$("${bench_kafka[@]}" start | sed -n 's/^KAFKA_BROKERS=//p' | tail -n 1)"
  [[ -n "$KAFKA_BROKERS" ]] || { echo "bench/run.sh: the Kafka broker did not start" >&2; exit 1; }
  export KAFKA_BROKERS
fi

# 10,000 websocket clients and their server sockets live in this shell's children.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

run_started=$(date +%s)
failed=0
for s in "${scenarios[@]}"; do
  echo
  echo "### bench: $s ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  start=$(date +%s)
  # every scenario is bounded: 10 minutes at most; one failing does not stop the others
  timeout --signal=TERM --kill-after=30 600 node --import tsx "bench/$s.ts" || { failed=1; echo "### bench: $s failed" >&2; }
  echo "### bench: $s took $(( $(date +%s) - start )) s"
done

# one line per scenario: figure, goal, met / not met (from bench/out/*.json of this run)
node --import tsx bench/summary.ts "$run_started" "${scenarios[@]}"
exit "$failed"
