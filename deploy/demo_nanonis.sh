#!/usr/bin/env bash
# The closed drift loop through the Nanonis TCP protocol, every piece its
# own process on loopback: the Nanonis protocol simulator
# (tests/support/nanonis_simulator.h, a controller scanning the simulated
# instrument, 4x faster than the wall clock), `anchord serve` and
# `anchord bridge nanonis --apply-drift` between them. After FRAMES frames
# the simulator prints the residual drift from its truth.
#
# Usage: deploy/demo_nanonis.sh BUILD_DIR [FRAMES]   (default 30 frames)
# Exit status: the simulator's.
set -euo pipefail
build=${1:?usage: demo_nanonis.sh BUILD_DIR [FRAMES]}
frames=${2:-30}
anchord=$build/daemon/anchord
simulator=$build/tests/anchord_nanonis_simulator
python=/usr/bin/python3

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Free loopback ports (the kernel picks them): a daemon or controller
# already on the default ports is not disturbed.
read -r controller_port frames_port results_port queries_port < <("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
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

"$simulator" --port "$controller_port" --time-scale 4 --frames "$frames" &
simulator_pid=$!
"$anchord" serve --config "$work/anchord.toml" 2> "$work/serve.log" &
pids+=($!)
"$anchord" bridge nanonis --controller "127.0.0.1:$controller_port" \
  --daemon-config "$work/anchord.toml" --apply-drift --min-interval-s 0 \
  2> "$work/bridge.log" &
pids+=($!)
echo "controller 127.0.0.1:$controller_port, daemon results" \
  "tcp://127.0.0.1:$results_port; $frames frames of ~1.5 s" >&2
status=0
wait "$simulator_pid" || status=$?
tail -n 3 "$work/bridge.log" >&2
exit "$status"
