#!/usr/bin/env bash
# Builds the libFuzzer harnesses of native/fuzz with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer, replays the committed corpus, then fuzzes
# the harnesses side by side for a bounded time (PANATTN_FUZZ_SECONDS,
# default 60), or, when PANATTN_FUZZ_RUNS is set (CI sets 10^6), until the
# harnesses have executed that many inputs in total: a count, so a slow
# machine fuzzes as deeply as a fast one. A crash fails the run and leaves
# its input in build/fuzz/artifacts:
# fix the bug, then commit that input to native/fuzz/corpus/<harness>/ so it
# is replayed on every run. Without a clang that has libFuzzer (Apple's
# clang has none) it says "skipped: <why>".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
offer_packages "${FUZZ_PACKAGES[@]}"
# Where libFuzzer comes from: clang, or PANATTN_FUZZ_CC (say, Homebrew's llvm on macOS).
fuzz_cc=${PANATTN_FUZZ_CC:-clang}
if ! command -v "$fuzz_cc" >/dev/null 2>&1; then
  skipped fuzzing "no $fuzz_cc here (install clang with its libFuzzer runtime, or set PANATTN_FUZZ_CC)"
  exit 0
fi
# The runtimes of the installed clang's own version (Debian: libclang-rt-14-dev
# for clang 14; older releases ship them inside libclang-common-<major>-dev).
rt="libclang-rt-$("$fuzz_cc" -dumpversion | cut -d. -f1)-dev"
if command -v apt-cache >/dev/null 2>&1 && apt-cache show "$rt" >/dev/null 2>&1; then
  offer_packages "$rt"
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  >"$probe/probe.c"
if ! "$fuzz_cc" -fsanitize=fuzzer,address,undefined -o "$probe/probe" "$probe/probe.c" >/dev/null 2>&1; then
  skipped fuzzing "$fuzz_cc cannot link -fsanitize=fuzzer,address,undefined: no libFuzzer (Apple's clang has none; Homebrew's llvm does: PANATTN_FUZZ_CC=\$(brew --prefix llvm)/bin/clang)"
  exit 0
fi
build="$PANATTN_ROOT/build/fuzz"
seconds=${PANATTN_FUZZ_SECONDS:-60}
runs_wanted=${PANATTN_FUZZ_RUNS:-0}
[[ "$runs_wanted" =~ ^[0-9]+$ ]] || die "PANATTN_FUZZ_RUNS=$runs_wanted: expected a number of inputs"
log="$build/fuzz.log"
mkdir -p "$build"
: >"$log"
CC="$fuzz_cc" cmake -S "$PANATTN_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPANATTN_TESTS=OFF -DPANATTN_SANITIZE=address,undefined -DPANATTN_FUZZ=ON \
  --log-level=WARNING >>"$log" 2>&1 \
  && cmake --build "$build" --parallel >>"$log" 2>&1 \
  || { tail -30 "$log"; die "fuzz build failed (log: $log)"; }

# With a count: 35% each for the tensor entry points, whose inputs run
# from hundreds to thousands a second as the fuzzer wanders between small
# and large sizes, and the rest for the quick getters; each harness is
# still capped in time (see below), so a slow machine fails loudly rather
# than outrun CI.
declare -A share_runs=([fuzz_sdpa]=$((runs_wanted * 35 / 100)) [fuzz_ops]=$((runs_wanted * 35 / 100))
                       [fuzz_info]=$((runs_wanted - runs_wanted * 70 / 100)))
(( seconds > 0 )) || seconds=1   # libFuzzer reads 0 as no limit
harnesses=(fuzz_sdpa fuzz_ops fuzz_info)
# Replay first, one after the other: every committed input, crashes found earlier included.
for harness in "${harnesses[@]}"; do
  mkdir -p "$build/work/$harness" "$build/artifacts"   # new inputs go to work/, not into the repository
  "$build/$harness" -runs=0 "$PANATTN_ROOT/native/fuzz/corpus/$harness" >"$build/$harness.log" 2>&1 \
    || { tail -30 "$build/$harness.log"; die "$harness fails on its committed corpus (log: $build/$harness.log)"; }
done
# Then fuzz, the harnesses side by side: libFuzzer runs on one core, so they
# share the machine's cores and each keeps its own time cap.
declare -A pid
start=$SECONDS
for harness in "${harnesses[@]}"; do
  if (( runs_wanted > 0 )); then
    budget=(-runs="${share_runs[$harness]}" -max_total_time=1800)   # the time cap only guards a hang
  else
    budget=(-max_total_time="$seconds")
  fi
  "$build/$harness" "${budget[@]}" -print_final_stats=1 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="$build/artifacts/$harness-" "$build/work/$harness" "$PANATTN_ROOT/native/fuzz/corpus/$harness" \
    >>"$build/$harness.log" 2>&1 &
  pid[$harness]=$!
done
total=0
for harness in "${harnesses[@]}"; do
  out="$build/$harness.log"
  wait "${pid[$harness]}" \
    || { tail -40 "$out"; die "$harness found a crash; its input is in $build/artifacts (log: $out)"; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  total=$((total + runs))
  echo "  fuzz: $harness: $runs inputs, no crash (finished by $((SECONDS - start)) s)"
done
echo "  fuzz: $total inputs in total"
if (( total < runs_wanted )); then
  die "fuzzing executed $total inputs, fewer than PANATTN_FUZZ_RUNS=$runs_wanted (a harness hit its time cap)"
fi
