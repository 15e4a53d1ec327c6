#!/usr/bin/env bash
# The performance targets' workloads through ONNX Runtime's Java API and
# panattn's native backend, side by side in one process on the same inputs
# and thread count: writes the ONNX models (scripts/make-ort-models.py, with
# Debian's python3-onnx), builds the library and the benchmarks (bench/,
# which alone depends on ONNX Runtime), checks that the outputs agree, times
# the two in turn (10 rounds, so that a slow spell of a shared machine hits
# both) and prints one table with the median ratio per workload and its
# range over the rounds. The machine should be idle.
#   scripts/bench-vs-ort.sh [THREADS [SECONDS]]   (default: 2 threads, 5 s a side of each case)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

threads=${1:-2}
seconds=${2:-5}
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$threads'"
find_jdk
ensure_packages "${BUILD_PACKAGES[@]}" python3-onnx
models="$PANATTN_ROOT/build/ort-models"
log="$PANATTN_ROOT/build/bench-vs-ort-build.log"
mkdir -p "$PANATTN_ROOT/build"
echo "panattn: writing the ONNX models to $models" >&2
/usr/bin/python3 "$PANATTN_ROOT/scripts/make-ort-models.py" "$models" >&2
echo "panattn: building the library and the benchmarks (log: $log)" >&2
{ mvn_quiet -DskipTests install && mvn_quiet -f "$PANATTN_ROOT/bench/pom.xml" package; } >"$log" 2>&1 \
  || { tail -40 "$log" >&2; die "benchmark build failed (log: $log)"; }
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$PANATTN_ROOT/bench/target/benchmarks.jar" \
  org.panattn.bench.VersusOrt "$models" "$threads" "$seconds"
