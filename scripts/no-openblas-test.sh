#!/usr/bin/env bash
# The jar runs where no OpenBLAS is installed. In a private mount namespace
# every OpenBLAS/BLAS shared library on this machine is covered by an empty
# file; a control program linked to the shared OpenBLAS must then fail to
# start, and the command line's jar (which carries the library) must run
# `info` and `demo` on the native backend. Without permission for mount
# namespaces (unshare needs root or user namespaces), the dynamic loader's
# trace of the same runs must show that no OpenBLAS is ever opened. Needs
# the jars (mvn -f reactor/pom.xml package).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
jar=$(panattn_cli_jar)
[ -f "$jar" ] || die "no $jar: build it first (mvn -f reactor/pom.xml package)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every shared BLAS file the loader could find, symlinks resolved.
ldconfig -p | awk '/lib(open)?blas[^ ]*\.so/ {print $NF}' | xargs -r readlink -f | sort -u > "$work/blas-files"
[ -s "$work/blas-files" ] || die "no shared OpenBLAS on this machine to hide (ldconfig -p lists none)"
printf '#include <stdio.h>\nchar *openblas_get_config(void);\nint main(void) { puts(openblas_get_config()); return 0; }\n' \
  > "$work/control.c"
cc -o "$work/control" "$work/control.c" -lopenblas
"$work/control" >/dev/null || die "the control program does not even run with OpenBLAS visible"

# Runs in the namespace: hides the files, checks the control fails, runs the jar.
cat > "$work/hidden.sh" <<'EOF'
set -euo pipefail
: > "$WORK/empty"
while read -r f; do mount --bind "$WORK/empty" "$f"; done < "$WORK/blas-files"
if "$WORK/control" >/dev/null 2>&1; then
  echo "the control program still finds OpenBLAS: hiding failed" >&2
  exit 1
fi
"$JAVA" --enable-native-access=ALL-UNNAMED -jar "$JAR" info > "$WORK/info.txt"
"$JAVA" --enable-native-access=ALL-UNNAMED -jar "$JAR" demo > "$WORK/demo.txt"
EOF

export WORK="$work" JAR="$jar" JAVA="$JAVA_HOME/bin/java"
if unshare --mount --propagation private true 2>/dev/null; then
  how="with $(wc -l < "$work/blas-files") BLAS libraries hidden in a private mount namespace"
  unshare --mount --propagation private bash "$work/hidden.sh" || die "the jar failed with OpenBLAS hidden"
else
  how="opening no shared BLAS (by the dynamic loader's trace: mount namespaces are not permitted here)"
  LD_DEBUG=libs "$JAVA" --enable-native-access=ALL-UNNAMED -jar "$jar" info > "$work/info.txt" 2> "$work/trace.txt"
  LD_DEBUG=libs "$JAVA" --enable-native-access=ALL-UNNAMED -jar "$jar" demo > "$work/demo.txt" 2>> "$work/trace.txt"
  grep -q 'libpanattn' "$work/trace.txt" || die "the loader trace shows no libpanattn: was it loaded?"
  if grep -iE 'find library=lib(open)?blas|calling init: .*lib(open)?blas' "$work/trace.txt"; then
    die "the jar's library opened a shared BLAS"
  fi
fi
grep -q '^library:   .*libpanattn' "$work/info.txt" || die "native library not loaded: $(cat "$work/info.txt")"
grep -q '^blas:      OpenBLAS' "$work/info.txt" || die "no statically linked OpenBLAS: $(cat "$work/info.txt")"
grep -q '^decode GQA' "$work/demo.txt" || die "the demo did not run natively: $(cat "$work/demo.txt")"
echo "panattn: the jar ran info and demo natively, $how"
sed -n 's/^\(isa\|blas\):  */  \1: /p' "$work/info.txt"
