#!/usr/bin/env bash
# Enables the RabbitMQ plugins pkg/rabbit's tests and benchmarks need on the local broker:
#   rabbitmq_management          HTTP API on 127.0.0.1:15672 (queue type/arguments, consumers, rates)
#   rabbitmq_shovel(+_management) the broker's own mover, the baseline of BenchmarkShovelBaseline
# Idempotent: enabling an enabled plugin is a no-op, and the script only returns once the
# management API answers (or fails after a bounded wait), so callers can run it every time.
# Expects a running node (.ci/run starts it); it never starts, stops or reconfigures the broker.
set -euo pipefail

MGMT_URL="${RABBIT_MGMT_URL:-http://127.0.0.1:15672}"
MGMT_USER="${RABBIT_MGMT_USER:-guest}"
MGMT_PASS="${RABBIT_MGMT_PASS:-guest}"
WAIT_SECONDS="${RABBIT_MGMT_WAIT:-60}"
PLUGINS=(rabbitmq_management rabbitmq_shovel rabbitmq_shovel_management)

if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  echo "rabbit-plugins: the RabbitMQ node is not running (start it with 'rabbitmq-server -detached')" >&2
  exit 1
fi

# `rabbitmq-plugins list -e -m` prints the explicitly and implicitly enabled plugins, one a line.
enabled="$(rabbitmq-plugins list -e -m 2>/dev/null || true)"
missing=()
for p in "${PLUGINS[@]}"; do
  grep -qx "$p" <<<"$enabled" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "rabbit-plugins: enabling ${missing[*]}"
  rabbitmq-plugins enable "${missing[@]}" >/dev/null
fi

# The listener starts a moment after the plugin is enabled; wait for an authenticated answer.
deadline=$((SECONDS + WAIT_SECONDS))
# Credentials go through curl's config on stdin, not its argument list (visible in ps).
until printf 'user = "%s:%s"\n' "$MGMT_USER" "$MGMT_PASS" | curl -fsS -o /dev/null -K - "$MGMT_URL/api/overview" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "rabbit-plugins: management API at $MGMT_URL did not answer within ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 1
done
echo "rabbit-plugins: ${PLUGINS[*]} enabled; management API up at $MGMT_URL"
