#!/usr/bin/env bash
# Every test: the C tests (CTest, at each ISA level) and the Java tests
# (JUnit, then the jar checks), through one Maven build. Prints the counts;
# on failure, the end of the log. On Linux, the jar then runs with OpenBLAS
# hidden (no-openblas-test.sh); on an x86-64 Debian/Ubuntu host the build
# also packs the aarch64 library, and cross-test.sh checks the aarch64,
# Windows and clang builds (about two minutes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
cross=no
if [ "$(uname -m)" = x86_64 ] && command -v dpkg >/dev/null 2>&1; then
  ensure_cross_packages  # before Maven, whose cross-aarch64 profile needs them
  cross=yes
fi
mkdir -p "$PANATTN_ROOT/build"
log="$PANATTN_ROOT/build/test.log"  # outside target/, which clean removes
echo "panattn: building and testing with $JAVA_HOME (log: $log)"
status=0
mvn_quiet clean verify >"$log" 2>&1 || status=$?

# CTest's summary, each C test binary's own count, and the totals of
# Surefire (unit tests) and Failsafe (jar checks), in that order.
grep -E '^[0-9]+: (panattn .*ISA|[0-9]+ passed, [0-9]+ failed)' "$log" | sed 's/^[0-9]*: /  C: /' || true
grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | sed 's/^/  ctest: /' || true
grep -E '^\[(INFO|ERROR|WARNING)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$log" \
  | sed 's/^\[[A-Z]*\] /  JUnit: /; 2s/JUnit: /JUnit, jar: /' || true
if [ "$status" -ne 0 ]; then
  echo "---- last lines of $log ----"
  tail -80 "$log"
  echo "panattn: tests FAILED"
  exit "$status"
fi

if [ "$(uname -s)" = Linux ]; then
  "$PANATTN_ROOT/scripts/no-openblas-test.sh"
fi
if [ "$cross" = yes ]; then
  "$PANATTN_ROOT/scripts/cross-test.sh"
else
  echo "panattn: cross-builds need an x86-64 Debian/Ubuntu host; not run on $(uname -sm)"
fi
echo "panattn: all tests passed"
