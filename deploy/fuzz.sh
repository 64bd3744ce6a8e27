#!/usr/bin/env bash
# Fuzzes anchord's decoders and its tracker with libFuzzer.
#
# Usage: deploy/fuzz.sh [TARGET] [SECONDS]
#   TARGET   sxm | frame | query | config | image | tracker_state |
#            sequence | all (default all)
#   SECONDS  fuzzing time per target (default 60)
#
# Builds the tree with clang and -fsanitize=fuzzer-no-link,address,
# undefined into build-fuzz/ (installs the project's Debian packages, clang
# and the libFuzzer runtime when missing), writes generated seed corpora
# (anchord_fuzz_seeds; for sxm also small generated files and the headers
# of the real scans in ../shared/data/real when present), then fuzzes each
# target for SECONDS with -timeout=5 (a hang is a finding) and
# -rss_limit_mb=2048.
#
# Exit status: 0 when nothing was found; non-zero on a crash, a sanitizer
# report, a broken contract, a timeout or an out-of-memory input. The
# offending input is left in build-fuzz/<target>-crashes/ and the log in
# build-fuzz/<target>-fuzz.log. Each corpus in build-fuzz/<target>-corpus/
# is kept and grows from run to run; the line "stat::number_of_executed_
# units" of each log counts the executions. Environment: JOBS (build jobs,
# default 2).
set -euo pipefail

all_targets=(sxm frame query config image tracker_state sequence nanonis)
target="${1:-all}"
seconds="${2:-60}"
if [ "$target" = all ]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $target "* ]]; then
  targets=("$target")
else
  echo "usage: $0 [TARGET] [SECONDS]  (TARGET: ${all_targets[*]} or all)" >&2
  exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [TARGET] [SECONDS]  (a positive number of seconds)" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
jobs="${JOBS:-2}"
real_dir="$root/../shared/data/real"

# --- toolchain --------------------------------------------------------------

libfuzzer_works() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe/probe.cc"
  local ok=0
  clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cc" \
    -o "$probe/probe" >/dev/null 2>&1 || ok=1
  rm -rf "$probe"
  return "$ok"
}

install_missing() {
  # clang + libclang-rt-dev (libFuzzer and the sanitizer runtimes; on
  # Debian 12 it pulls libclang-rt-14-dev); the rest of the build's
  # packages come from install-deps.sh.
  local packages=(clang libclang-rt-dev)
  local missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
      grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fuzz: installing ${missing[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

"$root/deploy/install-deps.sh"
if ! libfuzzer_works; then
  install_missing
  libfuzzer_works || {
    echo "fuzz: clang++ -fsanitize=fuzzer does not link (libFuzzer missing?)" >&2
    exit 1
  }
fi

# --- build --------------------------------------------------------------------

cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Release -DANCHORD_BUILD_FUZZERS=ON \
  -DANCHORD_BUILD_TESTS=OFF -DANCHORD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target anchord_fuzz_seeds \
  $(printf '%s_fuzz ' "${targets[@]}")
rm -rf "$build/seeds"
"$build/tests/fuzz/anchord_fuzz_seeds" "$build/seeds"

# --- seed corpus for sxm (generated .sxm files, the real scans) ------------

sxm_seeds() {
seeds="$build/seeds/sxm"
mkdir -p "$seeds"

# Big-endian float32 1.0, NaN, -6.8e-8 (a Z value in m), 0.0.
pattern='\x3f\x80\x00\x00\x7f\xc0\x00\x00\xb3\x91\xde\x89\x00\x00\x00\x00'

# make_seed FILE COLS ROWS DIR TYPE EOL CHANNEL...
# CHANNEL is "name:unit:direction". Writes a header modelled on a real
# Nanonis v2 file, then the float data the header promises (TYPE's byte
# order is not honoured: the values only need to be some floats).
make_seed() {
  local file="$1" cols="$2" rows="$3" dir="$4" type="$5" eol="$6"
  shift 6
  local images=0 info="" index=14 name unit direction
  for channel in "$@"; do
    IFS=: read -r name unit direction <<<"$channel"
    info+="$(printf '\t%s\t%s\t%s\t%s\t1.000E+0\t0.000E+0' \
      "$index" "$name" "$unit" "$direction")"$'\n'
    index=$((index - 1))
    if [ "$direction" = both ]; then images=$((images + 2)); else images=$((images + 1)); fi
  done
  {
    printf ':NANONIS_VERSION:\n2\n:SCANIT_TYPE:\n              %s\n' "$type"
    printf ':REC_DATE:\n 07.01.2016\n:REC_TIME:\n12:54:04\n'
    printf ':REC_TEMP:\n      290.0000000000\n:ACQ_TIME:\n        98.5\n'
    printf ':SCAN_PIXELS:\n       %d       %d\n' "$cols" "$rows"
    printf ':SCAN_FILE:\nC:\\Nanonis\\seed.sxm\n'
    printf ':SCAN_TIME:\n             1.920E-1             1.920E-1\n'
    printf ':SCAN_RANGE:\n           2.000000E-8           1.000000E-8\n'
    printf ':SCAN_OFFSET:\n             1.000000E-7         -2.000000E-8\n'
    printf ':SCAN_ANGLE:\n            3.000E+1\n:SCAN_DIR:\n%s\n' "$dir"
    printf ':BIAS:\n            -2.000E+0\n:Z-CONTROLLER:\n'
    printf '\tName\ton\tSetpoint\tP-gain\tI-gain\tT-const\n'
    printf '\tlog Current\t1\t2.500E-10 A\t7.428E-12 m\t6.551E-8 m/s\t1.134E-4 s\n'
    printf ':COMMENT:\n\n:DATA_INFO:\n'
    printf '\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n'
    printf '%s\n:SCANIT_END:\n\n\n' "$info"
  } | if [ "$eol" = crlf ]; then sed 's/$/\r/'; else cat; fi >"$file"
  printf '\x1a\x04' >>"$file"
  local bytes=$((images * cols * rows * 4))
  local repeats=$((bytes / 16 + 1))
  for ((i = 0; i < repeats; i++)); do printf "$pattern"; done |
    head -c "$bytes" >>"$file"
}

make_seed "$seeds/down_both.sxm" 8 6 down "FLOAT            MSBFIRST" lf \
  Z:m:both Current:A:both
make_seed "$seeds/up_single.sxm" 5 4 up "FLOAT            MSBFIRST" lf \
  Z:m:forward "LI Demod 1 X:V:backward"
make_seed "$seeds/crlf_lsb.sxm" 7 3 down "FLOAT            LSBFIRST" crlf \
  Z:m:both
make_seed "$seeds/one_pixel.sxm" 1 1 down "FLOAT            MSBFIRST" lf \
  Current:A:forward
make_seed "$seeds/wide_up.sxm" 16 2 up "FLOAT            MSBFIRST" lf \
  Z:m:both Current:A:both Bias:V:forward
# Minimal: only the required keys.
{
  printf ':SCAN_PIXELS:\n2 2\n:SCAN_RANGE:\n1E-8 1E-8\n:DATA_INFO:\n'
  printf 'Name Direction\nZ forward\n:SCANIT_END:\n\x1a\x04'
  printf "$pattern"
} >"$seeds/minimal.sxm"

# The real scans as seeds, kept small (whole 1 MiB inputs would slow every
# execution down): the first 8 KiB (a truncated file), and the real header
# with SCAN_PIXELS set to 16 x 16 followed by the last 4 KiB of real data
# (a valid file). Each whole file is also run once through the target.
real_files=()
if [ -d "$real_dir" ]; then
  for f in "$real_dir"/*.sxm; do
    [ -e "$f" ] || continue
    real_files+=("$f")
    name="$(basename "$f" .sxm)"
    head -c 8192 "$f" >"$seeds/real_${name}_head.sxm"
    end="$(grep -abo ':SCANIT_END:' "$f" | head -n 1 | cut -d: -f1 || true)"
    [ -n "$end" ] || continue
    {
      head -c "$end" "$f" | sed '/^:SCAN_PIXELS:/{n;s/.*/       16       16/;}'
      printf ':SCANIT_END:\n\n\n\x1a\x04'
      tail -c 4096 "$f"
    } >"$seeds/real_${name}_16x16.sxm"
  done
fi
if [ ${#real_files[@]} -gt 0 ]; then
  echo "fuzz: running the ${#real_files[@]} real scans once"
  "$build/tests/fuzz/sxm_fuzz" "${real_files[@]}" >"$build/sxm-real.log" 2>&1 || {
    cat "$build/sxm-real.log" >&2
    echo "fuzz: FAILED on a real scan (see above)" >&2
    exit 1
  }
else
  echo "fuzz: $real_dir not found; generated seeds only"
fi

# Header keys and values, so that mutations produce well-formed lines.
cat >"$build/seeds/sxm.dict" <<'EOF'
":SCAN_PIXELS:"
":SCAN_RANGE:"
":SCAN_OFFSET:"
":SCAN_ANGLE:"
":SCAN_TIME:"
":SCAN_DIR:"
":BIAS:"
":REC_DATE:"
":REC_TIME:"
":Z-CONTROLLER:"
":DATA_INFO:"
":SCANIT_TYPE:"
":SCANIT_END:"
"\x1a\x04"
"\x0a"
"\x09"
"both"
"forward"
"backward"
"up"
"down"
"FLOAT"
"MSBFIRST"
"LSBFIRST"
"Name"
"Direction"
"Channel"
"Unit"
"Calibration"
"Offset"
"E-8"
"nan"
"inf"
"-1"
"16384"
"16385"
EOF

}

# --- fuzz ---------------------------------------------------------------------

fuzz_one() {
  local name="$1" fuzzer="$build/tests/fuzz/$1_fuzz"
  local corpus="$build/$1-corpus" crashes="$build/$1-crashes"
  local log="$build/$1-fuzz.log" dict=()
  mkdir -p "$corpus" "$crashes"
  [ -f "$build/seeds/$name.dict" ] && dict=(-dict="$build/seeds/$name.dict")
  echo "fuzz: $name for ${seconds} s (log: $log)"
  set +e
  "$fuzzer" "$corpus" "$build/seeds/$name" "${dict[@]}" \
    -max_total_time="$seconds" -max_len=16384 -timeout=5 \
    -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
    >"$log" 2>&1
  local rc=$?
  set -e
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$log" | tail -n 2
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz: $name FAILED (libFuzzer exit $rc); inputs in $crashes/" >&2
    return "$rc"
  fi
  echo "fuzz: $name: no finding in ${seconds} s; corpus $(ls "$corpus" | wc -l) inputs"
}

status=0
for t in "${targets[@]}"; do
  [ "$t" = sxm ] && sxm_seeds
  fuzz_one "$t" || status=$?
done
exit "$status"
