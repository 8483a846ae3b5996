#!/bin/bash
# Runs every cargo-fuzz target of the switch for a given time each, at low priority, and prints
# the executions reached and crashes found per target (the figures README records).
#
#   ./fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default: 120 s, every target
#
# Needs a nightly toolchain and `cargo install cargo-fuzz`. Targets: protocol/fuzz
# (decode_frames) and switch/fuzz (survey_csv, survey_xlsx, id_link_file, merge_file). Corpora
# grow in <crate>/fuzz/corpus/<target> (seeded from the test fixtures); a crash is written to
# <crate>/fuzz/artifacts/<target>/ and printed. Build first with `./fuzz.sh build` (release with
# debug assertions and AddressSanitizer, as `cargo fuzz build -O`); a run starts the built
# binaries, so build again after changing the sources. Reproduce a crash with
#   <crate>/fuzz/target/x86_64-unknown-linux-gnu/release/<target> <artifact>
set -u
cd "$(dirname "$0")"
root=$(pwd)
seconds=${1:-120}
shift || true
declare -A crate_of=(
  [decode_frames]=protocol/fuzz
  [survey_csv]=switch/fuzz
  [survey_xlsx]=switch/fuzz
  [id_link_file]=switch/fuzz
  [merge_file]=switch/fuzz
)
order=(decode_frames survey_csv survey_xlsx id_link_file merge_file)

# Seeds: real files of each kind, so the fuzzer starts from inputs that reach deep.
seed() {
  local dir=$1/corpus/$2
  mkdir -p "$dir"
  case $2 in
    survey_csv) cp switch/tests/forms/*.csv "$dir/" 2>/dev/null ;;
    survey_xlsx) cp switch/fuzz/seeds/survey_xlsx/*.xlsx "$dir/" ;;
    id_link_file) printf '\x40顧客ID,ポイント数,交換先コード\r\nC0001,100,141305\r\nC0002,5,141305-E001\n' >"$dir/heading" ;;
    merge_file) printf '\x01MY00000001\t100\t20260401123456789012\t00112233445566778899aabbccddeeff\n' >"$dir/plain" ;;
  esac
}

if [ "$seconds" = build ]; then
  (cd protocol/fuzz && nice -n 15 cargo +nightly fuzz build -O decode_frames) || exit 1
  (cd switch/fuzz && nice -n 15 cargo +nightly fuzz build -O) || exit 1
  exit 0
fi
[ $# -gt 0 ] && order=("$@")
status=0
for t in "${order[@]}"; do
  crate=${crate_of[$t]:?unknown target $t}
  seed "$crate" "$t"
  bin=$crate/target/x86_64-unknown-linux-gnu/release/$t
  [ -x "$bin" ] || { echo "$t: not built; run ./fuzz.sh build first"; status=1; continue; }
  mkdir -p "$crate/artifacts/$t"
  log=$(mktemp)
  # The built binary itself (what `cargo fuzz run` starts), so a run never rebuilds midway.
  nice -n 15 "$bin" -artifact_prefix="$root/$crate/artifacts/$t/" -max_total_time="$seconds" -rss_limit_mb=2048 \
     -max_len=65536 -print_final_stats=1 "$crate/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  crashes=$(ls "$root/$crate/artifacts/$t" 2>/dev/null | grep -cE '^(crash|oom|timeout|leak)-')
  echo "$t: ${runs:-?} executions in ${seconds} s, exit $rc, artifacts ${crashes}"
  if [ "$rc" != 0 ]; then
    status=1
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -8
  fi
  rm -f "$log"
done
exit $status
