#!/usr/bin/env bash
# Generates a distorted synthetic Si(111)-7x7 frame with ground truth and
# registers it: JSON on stdout, overlay and corrected frame on disk.
# Usage: deploy/demo.sh ANCHORD_BINARY OUT_DIR
set -euo pipefail
anchord=${1:?usage: demo.sh ANCHORD_BINARY OUT_DIR}
out=${2:?usage: demo.sh ANCHORD_BINARY OUT_DIR}
mkdir -p "$out"

px=$("$anchord" synth "$out/frame.npy" --seed 7 --size 512 --fov-nm 30 \
       --truth "$out/truth.json" | sed -n 's/^pixel_size_nm=//p')
echo "synthetic frame: $out/frame.npy (512 px, 30 nm, nominal $px nm/px)" >&2
"$anchord" register "$out/frame.npy" --pixel-size-nm "$px" \
  --json "$out/result.json" --overlay "$out/overlay.png" \
  --corrected "$out/corrected.tiff"
cat "$out/result.json"
echo >&2
echo "result: $out/result.json  overlay: $out/overlay.png  corrected: $out/corrected.tiff" >&2
