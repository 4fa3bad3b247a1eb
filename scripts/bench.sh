#!/usr/bin/env bash
# make bench: every benchmark in one run, then one table (printed, and written to
# docs/benchmarks.md with the machine it ran on). The Makefile runs `build build-host tools
# services` first, so build/<fn>.zip, the emulator, dynalite, RabbitMQ and PostgreSQL are there.
#
# Each step's raw output goes to build/bench/<step>.txt, its exit status and wall time to
# build/bench/steps.tsv. A failing step does not stop the run: its rows say "NOT MEASURED"
# and the script exits 1 at the end. Missed targets are FAIL rows; BENCH_STRICT=1 makes them
# fail the run too.
#
# Knobs: BENCH_COUNT (runs per Go benchmark, default 6: benchstat gives a 95 % interval from 6), BENCH_ONLY (a regexp of step names to
# run, e.g. 'cold-init|latency'; the table then says the others did not run), BENCH_OUT (the
# Markdown file, default docs/benchmarks.md).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

GO=${GO:-go}
MAKE=${MAKE:-make}
COUNT=${BENCH_COUNT:-6}
ONLY=${BENCH_ONLY:-.}
OUT=build/bench
DOC=${BENCH_OUT:-docs/benchmarks.md}

rm -rf "$OUT"
mkdir -p "$OUT/details" "$(dirname "$DOC")"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cat /proc/loadavg)
printf 'started\t%s\nload-start\t%s\n' "$started" "$load_start" >"$OUT/run.tsv"
# What else was running: the table's numbers are only as quiet as the machine. top's second
# frame gives each process's CPU over the last second (ps would give lifetime averages).
top -b -w 512 -n 2 -d 1 -o %CPU 2>/dev/null |
  awk '/^top -/ { frame++ } frame == 2 && /^ *PID/ { on = 1; print "%CPU COMMAND"; next } on && NF >= 12 && n < 7 { print $9, $12; n++ }' \
    >"$OUT/top-start.txt"
echo "bench: started $started, load average $load_start (nproc $(nproc))"

failed=0
# step NAME CMD...: runs CMD with its output in $OUT/NAME.txt (benchmark result lines and
# failures echoed here), and records NAME, exit status and wall seconds in steps.tsv.
step() {
  local name=$1
  shift
  if ! [[ $name =~ $ONLY ]]; then
    return 0
  fi
  echo "bench: $name: $*"
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$@" >"$OUT/$name.txt" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  grep -E '^(Benchmark|--- FAIL|FAIL|panic:)|NOT MEASURED|Error' "$OUT/$name.txt" | grep -v '^--- BENCH' | head -n 40
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%s\t%d\t%s\n' "$name" "$rc" "$secs" >>"$OUT/steps.tsv"
  if ((rc != 0)); then
    echo "bench: $name FAILED (exit $rc) after ${secs}s; see $OUT/$name.txt" >&2
    failed=1
  else
    echo "bench: $name done in ${secs}s"
  fi
}

# shellcheck disable=SC2317 # called through step
gobench() { "$GO" test -run '^$' -timeout 30m "$@"; }

# 1 and 3: the functions under the emulator (quietest first: nothing of ours runs alongside).
step cold-init gobench -bench '^BenchmarkColdInit$' -benchtime 5x -count "$COUNT" ./internal/bench
step latency env GPR_BENCH_DETAILS="$PWD/$OUT/details" \
  "$GO" test -run '^$' -timeout 30m -bench '^BenchmarkDiagnoseLatency$' -benchtime 1x -count "$COUNT" ./internal/bench
# 3 too: alarm to first report with and without the incident record (alternating pairs).
step incident gobench -bench '^BenchmarkIncidentOverhead$' -benchtime 3x -count "$COUNT" ./internal/bench

# 2: the hello-world zip, built (the Makefile's BUILD_FLAGS, arm64) and zipped (cmd/zipfn) as
# `make build` builds and zips the functions'.
step hello-zip "$GO" run ./cmd/benchtable -hello-zip "$OUT/hello.zip"

# 4: replay vs the broker's shovel (each iteration moves 10,000 messages twice: 2 per run),
# and the peek.
step rabbit-replay gobench -bench '^BenchmarkReplayVsShovel$' -benchtime 2x -count "$(((COUNT + 2) / 3))" ./pkg/rabbit
# The shovel runs inside the broker; the replay runs in a Lambda function, on CPUs of its own.
# On this machine both share two cores, so the shared run above charges the replay's client CPU
# to the broker's throughput. The split run pins the broker to CPU 0 and the benchmark to CPU 1,
# as in production (Amazon MQ and Lambda on different hosts); its rows carry the target.
split_replay() {
  local pids mask rc=0
  pids=$(pgrep -x beam.smp) || { echo "split: no beam.smp process (is RabbitMQ running?)"; return 1; }
  mask=$(taskset -p "${pids%%$'\n'*}" | awk '{ print $NF }')
  for p in $pids; do taskset -a -p 1 "$p" >/dev/null || rc=1; done
  if ((rc == 0)); then
    echo "split: broker ($pids) on CPU 0, benchmark on CPU 1"
    taskset -c 1 "$GO" test -run '^$' -timeout 30m -bench '^BenchmarkReplayVsShovel$' -benchtime 2x -count "$1" ./pkg/rabbit || rc=$?
  fi
  for p in $pids; do taskset -a -p "$mask" "$p" >/dev/null; done
  echo "split: broker affinity restored to $mask"
  return "$rc"
}
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
  step rabbit-replay-split split_replay "$(((COUNT + 2) / 3))"
fi
step rabbit-peek gobench -bench '^(BenchmarkPeek10k|BenchmarkConsumeBaseline)$' -benchtime 2x -count "$COUNT" ./pkg/rabbit

# 5: synth twice; the second run, with warm caches, is the one that counts.
step synth-1 "$MAKE" --no-print-directory synth ENV=staging
step synth-2 "$MAKE" --no-print-directory synth ENV=staging

# 6: what the packages measure themselves.
step ledger gobench -bench . -benchtime 300ms -count "$COUNT" ./pkg/ledger
step report gobench -bench '^BenchmarkRender$' -benchmem -benchtime 200ms -count "$COUNT" ./pkg/render

for s in cold-init latency rabbit-replay rabbit-replay-split rabbit-peek ledger report; do
  if [[ -s $OUT/$s.txt ]] && grep -q '^Benchmark' "$OUT/$s.txt"; then
    "$GO" tool benchstat "$OUT/$s.txt" >"$OUT/$s.stat" 2>&1 || echo "bench: benchstat $s failed" >&2
  fi
done

# The zips as the run leaves them (make synth rebuilt them last), so that the run folder holds
# everything the table needs.
for f in build/*.zip "$OUT/hello.zip"; do
  [[ -f $f ]] && printf '%s\t%s\n' "$(basename "$f" .zip)" "$(stat -c %s "$f")"
done >"$OUT/zips.tsv"
load_end=$(cat /proc/loadavg)
printf 'finished\t%s\nload-end\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$load_end" >>"$OUT/run.tsv"

echo
echo "bench: the table (load average at start: $load_start; at end: $load_end)"
strict=()
[[ ${BENCH_STRICT:-0} == 1 ]] && strict=(-strict)
"$GO" run ./cmd/benchtable -dir "$OUT" -out "$DOC" "${strict[@]}"
rc=$?
if ((failed != 0 && rc == 0)); then
  rc=1
fi
exit "$rc"
