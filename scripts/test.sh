#!/usr/bin/env bash
# Every test: the C tests (CTest, at each ISA level) and the Java tests
# (JUnit, then the jar checks) of the library and of the command line
# (cli/), through one Maven build (reactor/pom.xml); a consumer project built
# against the library jar (consumer-test.sh); then the C tests
# under sanitizers and valgrind and a bounded fuzzing run (sanitize.sh,
# fuzz.sh). On Linux, the jar then runs with OpenBLAS hidden
# (no-openblas-test.sh); on an x86-64 Debian/Ubuntu host the build also
# packs the aarch64 library, and cross-test.sh checks the aarch64, Windows
# and clang builds. Prints the counts; on failure, the end of the log.
# A stage this machine cannot run (valgrind or libFuzzer on macOS, the
# cross-builds without apt) prints "skipped: <why>"; PANATTN_NO_SKIP=1
# makes that a failure, except for stages not meant for this kind of machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
# The cross-builds need an x86-64 Debian/Ubuntu host, and root unless their
# packages are installed already.
cross_skipped="" cross_by_design=""
if [ "$(uname -m)" != x86_64 ] || ! command -v dpkg >/dev/null 2>&1; then
  cross_skipped="they need an x86-64 Debian/Ubuntu host (apt, multiarch); this is $(uname -sm)"
  cross_by_design=by-design
elif [ "$(id -u)" != 0 ] && [ -n "$(missing_packages "${CROSS_PACKAGES[@]}")" ]; then
  cross_skipped="their toolchains are not installed and installing them needs root (sudo scripts/test.sh)"
else
  ensure_cross_packages  # before Maven, whose cross-aarch64 profile needs them
fi
mkdir -p "$PANATTN_ROOT/build"
log="$PANATTN_ROOT/build/test.log"  # outside target/, which clean removes
export PANATTN_SKIP_LOG="$PANATTN_ROOT/build/skipped.txt"  # the stages skipped() reports
: >"$PANATTN_SKIP_LOG"
echo "panattn: building and testing with $JAVA_HOME (log: $log)"
status=0
# The library, then the command line (cli/) against it, in one reactor.
mvn_quiet -f "$PANATTN_ROOT/reactor/pom.xml" clean verify >"$log" 2>&1 || status=$?

# CTest's summary, each C test binary's own count, and the totals of
# Surefire (unit tests) and Failsafe (jar checks), the library's then the
# command line's, in that order.
grep -E '^[0-9]+: (panattn .*ISA|[0-9]+ passed, [0-9]+ failed)' "$log" | sed 's/^[0-9]*: /  C: /' || true
grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | sed 's/^/  ctest: /' || true
grep -E '^\[(INFO|ERROR|WARNING)\] Tests run: [0-9]+, Failures: [0-9]+, Errors: [0-9]+, Skipped: [0-9]+$' "$log" \
  | sed 's/^\[[A-Z]*\] /  JUnit: /; 2s/JUnit: /JUnit, jar: /; 3s/JUnit: /JUnit, cli: /; 4s/JUnit: /JUnit, cli jar: /' || true
if [ "$status" -ne 0 ]; then
  echo "---- last lines of $log ----"
  tail -80 "$log"
  echo "panattn: tests FAILED"
  exit "$status"
fi

# A project depending on the installed library compiles with -Werror and runs
# the README's Example, on the class path and the module path.
"$PANATTN_ROOT/scripts/consumer-test.sh" || { echo "panattn: tests FAILED"; exit 1; }

# Sanitizers, valgrind and a bounded fuzzing run over the C library (they
# reuse the C tests Maven just built in target/native).
echo "panattn: sanitizers, valgrind and fuzzing (logs under build/)"
"$PANATTN_ROOT/scripts/sanitize.sh" "$PANATTN_ROOT/target/native" || { echo "panattn: tests FAILED"; exit 1; }
"$PANATTN_ROOT/scripts/fuzz.sh" || { echo "panattn: tests FAILED"; exit 1; }
if [ "$(uname -s)" = Linux ]; then
  "$PANATTN_ROOT/scripts/no-openblas-test.sh"
else
  skipped "the jar with OpenBLAS hidden (no-openblas-test.sh)" \
    "Linux only, where the library links OpenBLAS statically; this is $(uname -s)" by-design
fi
if [ -z "$cross_skipped" ]; then
  "$PANATTN_ROOT/scripts/cross-test.sh"
else
  skipped "cross-builds (cross-test.sh: aarch64, Windows, clang)" "$cross_skipped" $cross_by_design
fi
if [ -s "$PANATTN_SKIP_LOG" ]; then
  echo "panattn: all tests passed that can run here; skipped: $(paste -sd';' "$PANATTN_SKIP_LOG" | sed 's/;/; /g')"
else
  echo "panattn: all tests passed"
fi
