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

# The given Debian packages that are not installed, one per line.
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# Installs missing Debian packages (as root), or says what to install.
ensure_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0  # not Debian: CMake names what is missing
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
  echo "panattn: installing ${missing[*]} (apt-get; on a fresh machine a minute or more)" >&2
  local log="${TMPDIR:-/tmp}/panattn-apt.log"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}"; } >"$log" 2>&1 \
    || { tail -20 "$log" >&2; die "apt-get install ${missing[*]} failed (log: $log)"; }
}

# For an optional test stage: installs what it can of the packages (on
# Debian, as root) and carries on without the rest; the stage then checks
# for its tool itself and is skipped without it.
offer_packages() {
  command -v dpkg-query >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 0
  (ensure_packages "$@") || echo "panattn: could not install $*; what needs them is skipped" >&2
}

# Reports a test stage that cannot run on this machine: skipped <stage>
# <why> [by-design]. With PANATTN_NO_SKIP=1 (CI's Linux jobs, which have
# every tool) it fails instead, unless the stage is by design not for this
# kind of machine (the x86-64 cross-builds on arm64, say).
skipped() {
  local stage=$1 why=$2
  if [ "${PANATTN_NO_SKIP:-0}" = 1 ] && [ "${3:-}" != by-design ]; then
    die "$stage cannot run here ($why) and PANATTN_NO_SKIP=1"
  fi
  echo "  skipped: $stage: $why"
  [ -z "${PANATTN_SKIP_LOG:-}" ] || echo "$stage" >>"$PANATTN_SKIP_LOG"
}

# True when the C compiler ($CC, else cc) links a program with these flags
# and the program runs (a sanitizer's runtime may link yet not start).
cc_runs() {
  local dir status=0
  dir=$(mktemp -d)
  printf 'int main(void) { return 0; }\n' >"$dir/probe.c"
  { "${CC:-cc}" "$@" -o "$dir/probe" "$dir/probe.c" && "$dir/probe"; } >/dev/null 2>&1 || status=1
  rm -rf "$dir"
  return $status
}

# Packages a build needs; the C tests also want SIMDe (AVX-512 emulation).
BUILD_PACKAGES=(cmake make gcc maven libopenblas-dev)
TEST_PACKAGES=(libsimde-dev)
# scripts/sanitize.sh (valgrind) and scripts/fuzz.sh (clang; its libFuzzer
# and sanitizer runtimes come from libclang-rt-<major>-dev, see fuzz.sh).
SANITIZE_PACKAGES=(valgrind)
FUZZ_PACKAGES=(clang)

# Maven under the JDK found, without its own startup noise; the project's
# pom unless the arguments name another with -f.
mvn_quiet() {
  local pom=(-f "$PANATTN_ROOT/pom.xml")
  [[ " $* " == *" -f "* ]] && pom=()
  MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
    mvn -B -ntp "${pom[@]}" "$@"
}

# Path of the built library jar.
panattn_jar() {
  local version
  version=$(sed -n 's/^-Drevision=//p' "$PANATTN_ROOT/.mvn/maven.config")
  echo "$PANATTN_ROOT/target/panattn-$version.jar"
}

# Path of the built command-line jar (cli/): runnable, it carries the library.
panattn_cli_jar() {
  local version
  version=$(sed -n 's/^-Drevision=//p' "$PANATTN_ROOT/.mvn/maven.config")
  echo "$PANATTN_ROOT/cli/target/panattn-cli-$version.jar"
}

# Builds the library and the command line (reactor/pom.xml, skipping tests)
# when the command line's jar is missing or older than a source of either.
build_if_stale() {
  local jar newer
  jar=$(panattn_cli_jar)
  if [ -f "$jar" ]; then
    newer=$(cd "$PANATTN_ROOT" && find pom.xml reactor/pom.xml .mvn CMakeLists.txt cmake native src/main cli/pom.xml \
      cli/src/main -newer "$jar" -type f 2>/dev/null | head -1)
    [ -z "$newer" ] && return 0
  fi
  local log="$PANATTN_ROOT/build/build.log" start=$SECONDS
  mkdir -p "$PANATTN_ROOT/build"
  echo "panattn: building the library and the command line (log: $log)" >&2
  echo "panattn:   Maven: starting (the first build fetches its plugins from Maven Central)" >&2
  mvn_quiet -f "$PANATTN_ROOT/reactor/pom.xml" -DskipTests package 2>&1 | tee "$log" | build_progress >&2 \
    || { tail -40 "$log" >&2; die "build failed (log: $log)"; }
  echo "panattn: built $(basename "$jar") in $((SECONDS - start)) s" >&2
}

# One line per stage of the Maven build whose log it reads, as the stage starts.
build_progress() {
  awk '
    function say(text) { print "panattn:   " text; fflush() }
    /\(cmake-configure\)/         { say("CMake: configuring the native library") }
    /\(cmake-build\)/             { say("CMake: compiling the native library and its C tests (the longest step)") }
    /\(cmake-configure-aarch64\)/ { say("CMake: configuring the aarch64 cross-build") }
    /\(cmake-build-aarch64\)/     { say("CMake: cross-compiling the aarch64 library") }
    /\(default-compile\) @ panattn ---/     { say("Maven: compiling the Java classes") }
    /\(default-jar\) @ panattn ---/         { say("Maven: packing the jar") }
    /\(attach-javadocs\)/         { say("Maven: writing the Javadoc jar") }
    /\(default-compile\) @ panattn-cli ---/ { say("Maven: compiling the command line") }
    /shade \(default\) @ panattn-cli ---/   { say("Maven: packing the command line with the library") }'
}

# Cross-building on an x86-64 host (scripts/cross-test.sh; with them, the
# Maven build also packs the aarch64 library): aarch64 GCC and arm64
# OpenBLAS (Debian multiarch), qemu to run aarch64 tests, MinGW-w64 for
# Windows, and clang.
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libopenblas-dev:arm64 qemu-user
                gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 clang)

# Lets apt install arm64 packages beside the host's (as root).
enable_arm64_packages() {
  dpkg --print-foreign-architectures | grep -qx arm64 && return 0
  [ "$(id -u)" = 0 ] || die "arm64 packages are not enabled. Enable them with: sudo dpkg --add-architecture arm64"
  echo "panattn: enabling arm64 packages (dpkg --add-architecture arm64)" >&2
  dpkg --add-architecture arm64
  # Ubuntu serves arm64 from ports.ubuntu.com, not from its x86-64 mirrors:
  # pin those to the host's architecture and add ports for arm64.
  if grep -qx 'ID=ubuntu' /etc/os-release 2>/dev/null; then
    local codename host f
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
    host=$(dpkg --print-architecture)
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] && ! grep -q '^Architectures:' "$f" && sed -i "/^Types:/a Architectures: $host" "$f"
    done
    [ -f /etc/apt/sources.list ] && sed -i -E "s/^deb (http|mirror)/deb [arch=$host] \1/" /etc/apt/sources.list
    printf 'Types: deb\nURIs: http://ports.ubuntu.com/ubuntu-ports\nSuites: %s %s-updates %s-security\nComponents: main universe\nArchitectures: arm64\n' \
      "$codename" "$codename" "$codename" > /etc/apt/sources.list.d/panattn-arm64-ports.sources
  fi
  apt-get update -qq >/dev/null 2>&1 || true  # ensure_packages updates again and reports failures
}

ensure_cross_packages() {
  command -v dpkg >/dev/null 2>&1 || die "cross-building needs a Debian or Ubuntu host (apt, multiarch)"
  [ "$(dpkg --print-architecture)" = amd64 ] || die "cross-building needs an x86-64 host, not $(dpkg --print-architecture)"
  dpkg-query -W -f='${Status}' libopenblas-dev:arm64 2>/dev/null | grep -q "install ok installed" \
    || enable_arm64_packages
  ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${CROSS_PACKAGES[@]}"
}
