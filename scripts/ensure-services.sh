#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1, starting them when they are installed but
# stopped. The test suite needs both; with CI=true a missing service fails the run.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
fi

# The database the suite and the benchmarks are named after (tests create test_<name> from it).
if pg_up && ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='robo_advisor'" 2>/dev/null | grep -q 1; then
  createdb -h 127.0.0.1 -U postgres robo_advisor 2>/dev/null || true
fi

status=0
pg_up && echo "PostgreSQL answers on 127.0.0.1:5432" || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; status=1; }
redis_up && echo "Redis answers on 127.0.0.1:6379" || { echo "Redis does not answer on 127.0.0.1:6379" >&2; status=1; }
if [ "$status" != 0 ] && [ "${CI:-}" = "true" ]; then
  echo "CI=true: the test suite needs both services; stopping here." >&2
  exit 1
fi
exit 0
