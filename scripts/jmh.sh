#!/usr/bin/env bash
# Builds and runs the JMH benchmarks (bench/): every workload (W1-W4) on
# every backend. Arguments go to JMH, e.g.
#   scripts/jmh.sh -p workload=W1 -p backend=NATIVE -jvmArgs -Dpanattn.threads=1
# The machine should be idle while it runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
ensure_packages "${BUILD_PACKAGES[@]}"
log="$PANATTN_ROOT/build/jmh-build.log"
mkdir -p "$PANATTN_ROOT/build"
echo "panattn: building the library and the benchmarks (log: $log)" >&2
{ mvn_quiet -DskipTests install && mvn_quiet -f "$PANATTN_ROOT/bench/pom.xml" package; } >"$log" 2>&1 \
  || { tail -40 "$log" >&2; die "benchmark build failed (log: $log)"; }
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
  -jar "$PANATTN_ROOT/bench/target/benchmarks.jar" "$@"
