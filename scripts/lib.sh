# Shared by scripts/panattn and scripts/test.sh: find a JDK 25, install
# what a fresh Debian machine lacks, and build when the build is stale.
# Sourced, not run.

PANATTN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "panattn: $*" >&2; exit 1; }

# Major version of the JDK at $1, or nothing.
jdk_major() {
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null
}

# Exports JAVA_HOME as a JDK 25 or newer: $JAVA_HOME first, then /usr/lib/jvm.
find_jdk() {
  local candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$candidate" ] || continue
    major=$(jdk_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      export JAVA_HOME="$candidate"
      export PATH="$JAVA_HOME/bin:$PATH"
      return 0
    fi
  done
  die "no JDK 25 found (looked at \$JAVA_HOME and /usr/lib/jvm). Install a JDK 25, for example
  Eclipse Temurin 25 (https://adoptium.net) or your distribution's openjdk-25-jdk, and set JAVA_HOME to it."
}

# Installs missing Debian packages (as root), or says what to install.
ensure_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0  # not Debian: CMake names what is missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
  echo "panattn: installing ${missing[*]} (apt-get)" >&2
  local log="${TMPDIR:-/tmp}/panattn-apt.log"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1 \
    || { tail -20 "$log" >&2; die "apt-get install ${missing[*]} failed (log: $log)"; }
}

# Packages a build needs; the C tests also want SIMDe (AVX-512 emulation).
BUILD_PACKAGES=(cmake make gcc maven libopenblas-dev)
TEST_PACKAGES=(libsimde-dev)
# scripts/sanitize.sh (valgrind) and scripts/fuzz.sh (clang; its libFuzzer
# and sanitizer runtimes come from libclang-rt-<major>-dev, see fuzz.sh).
SANITIZE_PACKAGES=(valgrind)
FUZZ_PACKAGES=(clang)

# Maven under the JDK found, without its own startup noise.
mvn_quiet() {
  MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
    mvn -B -ntp -f "$PANATTN_ROOT/pom.xml" "$@"
}

# Path of the built jar.
panattn_jar() {
  local version
  version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' "$PANATTN_ROOT/pom.xml" | head -1)
  echo "$PANATTN_ROOT/target/panattn-$version.jar"
}

# Builds the jar (skipping tests) when it is missing or older than a source.
build_if_stale() {
  local jar newer
  jar=$(panattn_jar)
  if [ -f "$jar" ]; then
    newer=$(cd "$PANATTN_ROOT" && find pom.xml CMakeLists.txt native src/main -newer "$jar" -type f 2>/dev/null | head -1)
    [ -z "$newer" ] && return 0
  fi
  local log="$PANATTN_ROOT/build/build.log"
  mkdir -p "$PANATTN_ROOT/build"
  echo "panattn: building (log: $log)" >&2
  mvn_quiet -DskipTests package >"$log" 2>&1 || { tail -40 "$log" >&2; die "build failed (log: $log)"; }
}
