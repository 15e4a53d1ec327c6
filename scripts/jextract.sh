#!/usr/bin/env bash
# Regenerates the Panama bindings (src/main/java/org/panattn/internal/ffi)
# from native/include/panattn.h. Needs a jextract built for JDK 25, on PATH
# or named by $JEXTRACT. The output is committed, so a normal build never
# runs this; run it after every change to the header.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jextract=${JEXTRACT:-$(command -v jextract || true)}
if [ -z "$jextract" ] || [ ! -x "$jextract" ]; then
  echo "jextract.sh: no jextract found. Put a jextract for JDK 25 on PATH or set" >&2
  echo "  JEXTRACT=/path/to/jextract. It is not on Maven Central: build it from" >&2
  echo "  the openjdk/jextract sources (see their README)." >&2
  exit 1
fi

header=native/include/panattn.h
package=org.panattn.internal.ffi
out=src/main/java/${package//.//}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Only panattn's own symbols (pa_* and PA_*), not whatever the system
# headers bring in: ask jextract for every symbol, keep ours.
"$jextract" --dump-includes "$work/all.txt" "$header" >/dev/null
grep -E -- '--include-[a-z]+ (pa_|PA_)' "$work/all.txt" | awk '{print $1, $2}' | sort > "$work/ours.txt"

rm -rf "$out"
# shellcheck disable=SC2046  # one option and one name per line
"$jextract" --output src/main/java --target-package "$package" \
  --header-class-name Panattn_h $(cat "$work/ours.txt") "$header"
echo "jextract.sh: regenerated $out ($(ls "$out" | wc -l) files)"
