#!/bin/sh
# The image's entrypoint: one image, every Orderline process. The process comes from the first
# argument or from ORDERLINE_PROCESS (what the ECS task definitions of `tables export --services`
# set); further arguments go to the command. `healthcheck` probes the process this container
# runs: the API's /health, or a worker's /metrics when ORDERLINE_METRICS_PORT is set.
set -eu

ORDERLINE="${ORDERLINE_BIN:-orderline}"
PYTHON="${ORDERLINE_PYTHON:-python}"

usage() {
    cat <<'USAGE'
usage: entrypoint.sh [PROCESS] [ARGS...]     (PROCESS defaults to $ORDERLINE_PROCESS, then api)

  api          orderline serve --no-workers   (listens on $ORDERLINE_PORT, default 8000)
  relay        orderline relay
  projector    orderline project              (needs ORDERLINE_KAFKA_BOOTSTRAP_SERVERS)
  aggregator   orderline aggregate
  orderline    any orderline command, e.g. `orderline db upgrade` as a one-off task
  healthcheck  exit 0 when the process of $ORDERLINE_PROCESS answers, 1 otherwise

example: docker run --env-file prod.env orderline:1.2.3 relay --metrics-port 9101
USAGE
}

probe() {
    # GET http://127.0.0.1:$1$2 within 4 s; exit 0 on a 2xx answer
    exec "$PYTHON" -c 'import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=4) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception as exc:
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)' "$1" "$2"
}

healthcheck() {
    case "${ORDERLINE_PROCESS:-api}" in
        api) probe "${ORDERLINE_PORT:-8000}" /health ;;
        *)
            port="${ORDERLINE_METRICS_PORT:-0}"
            if [ "$port" = 0 ]; then
                exit 0  # a worker without /metrics: the container running is all there is to see
            fi
            probe "$port" /metrics
            ;;
    esac
}

if [ "$#" -gt 0 ]; then
    process="$1"
    shift
else
    process="${ORDERLINE_PROCESS:-api}"
fi

case "$process" in
    api) exec "$ORDERLINE" serve --no-workers "$@" ;;
    relay) exec "$ORDERLINE" relay "$@" ;;
    projector) exec "$ORDERLINE" project "$@" ;;
    aggregator) exec "$ORDERLINE" aggregate "$@" ;;
    orderline) exec "$ORDERLINE" "$@" ;;
    healthcheck) healthcheck ;;
    -h | --help | help) usage ;;
    *)
        echo "entrypoint.sh: unknown process '$process'" >&2
        usage >&2
        exit 64
        ;;
esac
