#!/usr/bin/env bash
# Every test: the C tests (CTest, at each ISA level) and the Java tests
# (JUnit), through one Maven build; then the C tests under sanitizers and
# valgrind, and a bounded fuzzing run (scripts/sanitize.sh, scripts/fuzz.sh). Prints the counts; on failure, the end
# of the log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
mkdir -p "$PANATTN_ROOT/build"
log="$PANATTN_ROOT/build/test.log"  # outside target/, which clean removes
echo "panattn: building and testing with $JAVA_HOME (log: $log)"
status=0
mvn_quiet clean verify >"$log" 2>&1 || status=$?

# CTest's summary, each C test binary's own count, and Surefire's total.
grep -E '^[0-9]+: (panattn .*ISA|[0-9]+ passed, [0-9]+ failed)' "$log" | sed 's/^[0-9]*: /  C: /' || true
grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | sed 's/^/  ctest: /' || true
grep -E '^\[(INFO|ERROR|WARNING)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$log" \
  | tail -1 | sed 's/^\[[A-Z]*\] /  JUnit: /' || true
if [ "$status" -ne 0 ]; then
  echo "---- last lines of $log ----"
  tail -80 "$log"
  echo "panattn: tests FAILED"
  exit "$status"
fi

# Sanitizers, valgrind and a bounded fuzzing run over the C library (they
# reuse the C tests Maven just built in target/native).
echo "panattn: sanitizers, valgrind and fuzzing (logs under build/)"
"$PANATTN_ROOT/scripts/sanitize.sh" "$PANATTN_ROOT/target/native" || { echo "panattn: tests FAILED"; exit 1; }
"$PANATTN_ROOT/scripts/fuzz.sh" || { echo "panattn: tests FAILED"; exit 1; }
echo "panattn: all tests passed"
