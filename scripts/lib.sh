# Shared by scripts/up, down and test. Sourced, not run.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${CYNODE_STATE_DIR:-$REPO_ROOT/.cynode}
LOG_DIR=$STATE_DIR/logs
GATEWAY_LISTEN=${CYNODE_LISTEN:-127.0.0.1:8080}
BIN_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug
GATEWAY_URL=http://$GATEWAY_LISTEN
MODEL_ADDR=${CYNODE_MODEL_ADDR:-127.0.0.1:11434}
# scripts/model-server's second llama-server, which makes embeddings.
EMBEDDINGS_ADDR=${CYNODE_EMBEDDINGS_ADDR:-${MODEL_ADDR%:*}:$((${MODEL_ADDR##*:} + 1))}

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_EC2_METADATA_DISABLED=true

# Stops the process in $1's pid file if it is still the program named $2.
stop_pidfile() {
    local pidfile=$1 program=$2 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null && grep -q "$program" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
        echo "stopped $program (pid $pid)"
    fi
    rm -f "$pidfile"
}
