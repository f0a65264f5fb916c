# Shared by localstack/up, down and provision. Sourced, not run.
#
# Everything LocalStack needs is installed into a virtualenv under ~/.cache/cynode, keyed
# by a hash of requirements.lock and the extension, so a changed pin gets a fresh venv and
# an unchanged one is reused (CI caches ~/.cache).

LOCALSTACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$LOCALSTACK_DIR")
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/cynode
STATE_DIR=${CYNODE_STATE_DIR:-$REPO_ROOT/.cynode}
ENDPOINT=${AWS_ENDPOINT_URL:-http://localhost:4566}

# The services a deployment uses (KMS seals users' stored credentials).
LOCALSTACK_SERVICES=sqs,dynamodb,s3,sts,iam,ssm,secretsmanager,cloudformation,kms

export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_EC2_METADATA_DISABLED=true

venv_dir() {
    local hash
    hash=$(cat "$LOCALSTACK_DIR/requirements.lock" "$LOCALSTACK_DIR"/extension/pyproject.toml \
        "$LOCALSTACK_DIR"/extension/cynode_localstack/*.py | sha256sum | cut -c1-16)
    echo "$CACHE_DIR/localstack-$hash"
}

# A Python that localstack-core 4.9 supports (3.11 or 3.12).
find_python() {
    local candidate
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "localstack: need Python 3.11 or 3.12 (python3.11 on PATH)" >&2
    return 1
}

# Creates the venv (pinned LocalStack + our DynamoDB provider) unless it already exists.
ensure_venv() {
    local venv python
    venv=$(venv_dir)
    if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
        echo "$venv"
        return 0
    fi
    python=$(find_python)
    echo "localstack: installing pinned LocalStack into $venv (once; cached)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$LOCALSTACK_DIR/requirements.lock" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
        "$LOCALSTACK_DIR/extension" >&2
    touch "$venv/.complete"
    # Older pins' environments are dead weight.
    find "$CACHE_DIR" -maxdepth 1 -name 'localstack-*' ! -path "$venv" -exec rm -rf {} + 2>/dev/null || true
    echo "$venv"
}

healthy() {
    curl -sf --max-time 2 "$ENDPOINT/_localstack/health" 2>/dev/null | grep -q '"sqs": "\(available\|running\)"'
}
