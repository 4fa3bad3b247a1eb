#!/usr/bin/env bash
# Starts the local services the tests and the demo need, when they are not running, the
# same way the machine starts them: RabbitMQ (with the management and shovel plugins) and
# PostgreSQL. Idempotent and quick when everything is up.
set -euo pipefail
cd "$(dirname "$0")/.."

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

if ! port_open 5672; then
  if ! command -v rabbitmq-server >/dev/null; then
    echo "services: RabbitMQ is not installed (apt-get install rabbitmq-server)" >&2
    exit 1
  fi
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached
  rabbitmqctl wait --timeout 60 "/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid" >/dev/null
  # rabbitmq-diagnostics answers before the AMQP port accepts: wait for the port too.
  for _ in $(seq 1 60); do port_open 5672 && break; sleep 1; done
fi
port_open 5672 || { echo "services: RabbitMQ is not accepting on 127.0.0.1:5672" >&2; exit 1; }
bash scripts/rabbit-plugins.sh

if ! port_open 5432; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
fi
port_open 5432 || { echo "services: PostgreSQL is not accepting on 127.0.0.1:5432" >&2; exit 1; }
# The demo's database (the runbook's `arrakis`); tests create their own.
if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='arrakis'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE arrakis"
fi
echo "services: RabbitMQ and PostgreSQL are up"
