#!/usr/bin/env bash
# The daemon as it is deployed, in separate processes on loopback TCP:
# `anchord serve` (the daemon), `anchord replay --synthetic` (the
# instrument, looping a drifting synthetic sequence) and the Python client
# deploy/anchord_client.py (a dashboard printing drift and site counts),
# until the client has printed FRAMES results. `make demo` runs the
# one-process variant, `anchord demo`.
#
# Usage: deploy/demo.sh ANCHORD_BINARY [FRAMES]   (default 10 frames)
# Needs /usr/bin/python3 with python3-zmq and python3-protobuf, and
# protoc (deploy/install-deps.sh installs them). Exit status: the client's.
set -euo pipefail
anchord=${1:?usage: demo.sh ANCHORD_BINARY [FRAMES]}
frames=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Three free loopback ports (the kernel picks them), so that a daemon
# already running on the default ports is not disturbed.
read -r frames_port results_port queries_port < <("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
cat > "$work/anchord.toml" <<TOML
[endpoints]
frames = "tcp://127.0.0.1:$frames_port"
results = "tcp://127.0.0.1:$results_port"
queries = "tcp://127.0.0.1:$queries_port"
http_metrics = ""
[catalog]
path = "$work/catalog.sqlite"
TOML

"$anchord" serve --config "$work/anchord.toml" 2> "$work/serve.log" &
pids+=($!)
"$anchord" replay --synthetic 40 --loop --rate 2 \
  --endpoint "tcp://127.0.0.1:$frames_port" > "$work/replay.log" 2>&1 &
pids+=($!)
echo "daemon: results tcp://127.0.0.1:$results_port, queries" \
  "tcp://127.0.0.1:$queries_port; instrument: tcp://127.0.0.1:$frames_port" >&2
"$python" "$here/anchord_client.py" \
  --endpoint "tcp://127.0.0.1:$results_port" --count "$frames" --timeout-s 60
"$python" "$here/anchord_client.py" \
  --endpoint "tcp://127.0.0.1:$queries_port" --query health | sed -n 1,12p
