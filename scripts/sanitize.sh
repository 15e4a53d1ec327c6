#!/usr/bin/env bash
# The C tests under the sanitizers and valgrind:
#  1. AddressSanitizer + UndefinedBehaviorSanitizer build (build/sanitize-address),
#     every C test at every ISA level (CTest);
#  2. ThreadSanitizer build (build/sanitize-thread), the thread test;
#  3. valgrind memcheck on the normal build's C tests (argument 1, default
#     target/native, which `mvn verify` builds): no error and no definite or
#     indirect leak. The thread test is left to the two
#     sanitizers: valgrind runs threads one at a time, a minute per level.
# Any report fails the run. A stage this machine cannot run (no valgrind on
# macOS; a compiler without a sanitizer's runtime) says "skipped: <why>".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
offer_packages "${SANITIZE_PACKAGES[@]}"
normal_build=${1:-$PANATTN_ROOT/target/native}

# Configures, builds and runs CTest in build/<name> with the given sanitizers.
sanitized_ctest() {
  local name=$1 sanitizers=$2 filter=$3 dir="$PANATTN_ROOT/build/$1"
  shift 3  # the rest: targets to build (all when none)
  local log="$dir/sanitize.log" targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  mkdir -p "$dir"
  { cmake -S "$PANATTN_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPANATTN_SANITIZE="$sanitizers" --log-level=WARNING \
    && cmake --build "$dir" --parallel "${targets[@]}"; } >"$log" 2>&1 \
    || { tail -30 "$log"; die "$name build failed (log: $log)"; }
  ctest --test-dir "$dir" --output-on-failure -R "$filter" >>"$log" 2>&1 \
    || { grep -E -A30 'ERROR: |runtime error|WARNING: ThreadSanitizer|FAIL' "$log" | head -60
         die "$name: the tests failed or a sanitizer reported an error (log: $log)"; }
  echo "  $name ($sanitizers): $(grep -E 'tests passed' "$log" | tail -1)"
}

# Each sanitizer build, if the compiler can build and start a program with it.
sanitized_ctest_if_supported() {
  if cc_runs -fsanitize="$2"; then
    sanitized_ctest "$@"
  else
    skipped "$1" "the C compiler (${CC:-cc}) cannot build and run a program with -fsanitize=$2"
  fi
}

# halt_on_error: the first report ends the test with a failure. LeakSanitizer
# (detect_leaks) exists on Linux only; elsewhere ASan refuses the option.
leaks=0
[ "$(uname -s)" = Linux ] && leaks=1
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=$leaks:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
sanitized_ctest_if_supported sanitize-address address,undefined '.'
sanitized_ctest_if_supported sanitize-thread thread 'test_threads' test_threads

[ -x "$normal_build/test_sdpa" ] || die "no C tests in $normal_build: build first (mvn verify, or scripts/test.sh)"
if ! command -v valgrind >/dev/null 2>&1; then
  case "$(uname -s)" in
    Linux) why="valgrind is not installed (Debian/Ubuntu: apt-get install valgrind; scripts/test.sh does so as root)" ;;
    *) why="valgrind does not run on $(uname -sm)" ;;
  esac
  skipped "valgrind memcheck" "$why"
  exit 0
fi
vlog="$PANATTN_ROOT/build/valgrind.log"
: >"$vlog"
runs=0
# test_robustness at every level (it drives each kernel through its vector
# tails, NaN and masks); test_widen at the levels valgrind runs (it reads
# sources of every tail length allocated to their exact size, and covers
# the SIMDe tables too); the other tests once, at the CPU's own level.
for run in test_robustness:scalar test_robustness:avx2 test_robustness:avx512 test_widen:scalar test_widen:avx2 \
           test_sdpa: test_rules: test_buffers: test_key_ranges: test_decode:; do
  test=${run%%:*} isa=${run#*:}
  # Memcheck counts OpenBLAS's thread pool and buffers, allocated once
  # and kept for the process, as "still reachable" or "possibly lost":
  # they are not errors, so only definite and indirect leaks fail.
  # PANATTN_TEST_QUICK: the largest shapes (minutes under valgrind) add no
  # code path the others miss.
  PANATTN_TEST_QUICK=1 PANATTN_MAX_ISA=$isa valgrind -q --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    "$normal_build/$test" >>"$vlog" 2>&1 \
    || { tail -40 "$vlog"; die "valgrind: $test at ISA ${isa:-default} reported errors or leaks (log: $vlog)"; }
  runs=$((runs + 1))
done
echo "  valgrind memcheck: $runs runs (test_robustness at 3 ISA levels, test_widen at 2, test_sdpa, test_rules," \
  "test_buffers, test_key_ranges, test_decode), 0 errors, 0 leaks"
