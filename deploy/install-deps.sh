#!/usr/bin/env bash
# Installs anchord's build and test dependencies from Debian packages.
# Idempotent: installs only what is missing; does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost-dev
  libzmq3-dev cppzmq-dev
  libopencv-dev
  libeigen3-dev
  libnanoflann-dev
  libspdlog-dev libfmt-dev
  libprotobuf-dev protobuf-compiler
  doctest-dev
  libtomlplusplus-dev
  nlohmann-json3-dev
  # daemon/catalog/catalog.cc: the persistent defect catalog.
  libsqlite3-dev
  # The formatting check of `make test` (tests/CMakeLists.txt): the pinned
  # clang-format version.
  clang-format-14
  # deploy/anchord_client.py: the example subscriber and its test.
  python3 python3-zmq python3-protobuf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
