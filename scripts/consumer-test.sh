#!/usr/bin/env bash
# A project that depends on panattn, as a user's would: the library jar and
# its POM go into a fresh, temporary local Maven repository; tiny consumer
# projects that declare org.panattn:panattn compile with -Xlint:all -Werror
# on the class path and, with a module-info.java, on the module path (with
# --release 25, and with -source/-target 25 as builds without --release do);
# then the README's Example (taken from README.md itself) runs both ways,
# with only the flags the README names (--enable-native-access=ALL-UNNAMED
# on the class path, --enable-native-access=org.panattn on the module path),
# and must print nothing on stderr. Needs the jar (mvn package). The Maven
# plugins come from the local repository the build itself filled (~/.m2, or
# $PANATTN_M2_REPO) and, for what a consumer needs beyond it (such as the
# default resources plugin), from Maven Central; where neither has them it
# says so and is skipped (a failure under PANATTN_NO_SKIP=1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_jdk
jar=$(panattn_jar)
[ -f "$jar" ] || die "no $jar: build it first (mvn package)"
version=$(basename "$jar" .jar); version=${version#panattn-}
cache=${PANATTN_M2_REPO:-$HOME/.m2/repository}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$PANATTN_ROOT/build/consumer-test.log"
mkdir -p "$PANATTN_ROOT/build"
: > "$log"

# The library, installed by hand: the layout Maven reads, nothing else.
dir="$work/repo/org/panattn/panattn/$version"
mkdir -p "$dir"
cp "$jar" "$dir/panattn-$version.jar"
# The POM as Maven installs it: the version resolved (flatten-maven-plugin's output).
pom="$PANATTN_ROOT/target/flattened-pom.xml"
[ -f "$pom" ] || die "no $pom: build the jar first (mvn package)"
cp "$pom" "$dir/panattn-$version.pom"

# The README's Example, in a class: its inputs declared, its output checked.
example=$(awk '/^## Example/ {on = 1; next} on && /^```java/ {code = 1; next} code && /^```/ {exit} code {print}' \
  "$PANATTN_ROOT/README.md")
[ -n "$example" ] || die "no java block under '## Example' in README.md"

# consumer NAME MODULAR RELEASE: a Maven project depending on panattn; MODULAR=yes adds a
# module-info.java; RELEASE=yes compiles with --release 25, =no with -source/-target 25, as a
# build without --release does (plain javac, many Gradle builds): only then does javac see the
# JDK's incubator modules, and warn when a module on the module path requires one, even statically.
consumer() {
  local name=$1 modular=$2 release=$3 root="$work/$1" level
  if [ "$release" = yes ]; then
    level="<maven.compiler.release>25</maven.compiler.release>"
  else
    level="<maven.compiler.source>25</maven.compiler.source><maven.compiler.target>25</maven.compiler.target>"
  fi
  mkdir -p "$root/src/main/java/example"
  cat > "$root/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>$name</artifactId>
  <version>1</version>
  <properties>
    $level
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>org.panattn</groupId>
      <artifactId>panattn</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
  <repositories>
    <repository><id>cache</id><url>file://$cache</url><releases><checksumPolicy>ignore</checksumPolicy></releases></repository>
  </repositories>
  <pluginRepositories>
    <pluginRepository><id>cache</id><url>file://$cache</url><releases><checksumPolicy>ignore</checksumPolicy></releases></pluginRepository>
  </pluginRepositories>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
        <configuration>
          <compilerArgs><arg>-Xlint:all</arg><arg>-Werror</arg></compilerArgs>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
EOF
  if [ "$modular" = yes ]; then
    printf 'module example {\n    requires org.panattn;\n}\n' > "$root/src/main/java/module-info.java"
  fi
  {
    printf 'package example;\n\nimport java.lang.foreign.Arena;\n\n'
    printf 'import org.panattn.Attention;\nimport org.panattn.AttentionSpec;\nimport org.panattn.Backend;\n'
    printf 'import org.panattn.Causal;\nimport org.panattn.Mask;\nimport org.panattn.Panattn;\nimport org.panattn.Tensor;\n\n'
    printf '/** README.md'"'"'s Example. */\npublic final class ReadmeExample {\n'
    printf '    public static void main(String[] args) {\n'
    printf '        float[] qValues = new float[1 * 8 * 128 * 64], kValues = new float[qValues.length];\n'
    printf '        float[] vValues = new float[qValues.length];\n'
    printf '        for (int i = 0; i < qValues.length; i++) {\n'
    printf '            qValues[i] = (i %% 7) / 7f; kValues[i] = (i %% 5) / 5f; vValues[i] = (i %% 3) / 3f;\n'
    printf '        }\n'
    printf '%s\n' "$example" | sed 's/^/        /'
    printf '        System.out.println("example ran; default backend " + Panattn.defaultBackend());\n'
    printf '    }\n}\n'
  } > "$root/src/main/java/example/ReadmeExample.java"
}

# Maven on the temporary repository: the cache first, as a file:// repository, then Central.
build() {
  local name=$1
  echo "== mvn compile ($name)" >> "$log"
  if mvn_quiet -f "$work/$name/pom.xml" -Dmaven.repo.local="$work/repo" compile >> "$log" 2>&1; then
    return 0
  fi
  if grep -qE 'Cannot access .* in offline mode|Could not resolve|Plugin .* could not be resolved|is missing|not found in' "$log" \
       && ! grep -q 'COMPILATION ERROR' "$log"; then
    skipped "the consumer test (consumer-test.sh)" "Maven could not find its plugins in $cache or Maven Central (log: $log)"
    exit 0
  fi
  tail -30 "$log"
  die "the consumer ($name) did not compile with -Werror (log: $log)"
}

# run WHAT JAVA-ARGS...: the example must print its line and nothing on stderr.
passed=0
run() {
  local what=$1; shift
  echo "== java $* ($what)" >> "$log"
  if ! "$JAVA_HOME/bin/java" "$@" > "$work/out" 2> "$work/err"; then
    cat "$work/out" "$work/err" >> "$log"
    die "the README's Example failed on the $what: $(cat "$work/err")"
  fi
  cat "$work/out" "$work/err" >> "$log"
  [ ! -s "$work/err" ] || die "the README's Example wrote to stderr on the $what (flags missing?): $(cat "$work/err")"
  grep -q "default backend NATIVE" "$work/out" || die "the README's Example did not run natively on the $what: $(cat "$work/out")"
  passed=$((passed + 1))
}

consumer classpath no yes
consumer modulepath yes yes
consumer modulepath-source yes no
for name in classpath modulepath modulepath-source; do
  build "$name"
  passed=$((passed + 1))
done
lib="$dir/panattn-$version.jar"
run "class path" --enable-native-access=ALL-UNNAMED -cp "$lib:$work/classpath/target/classes" example.ReadmeExample
run "module path" --enable-native-access=org.panattn -p "$lib:$work/modulepath/target/classes" -m example/example.ReadmeExample
echo "panattn: a consumer compiled with -Werror and ran the README's Example, on the class path and the module path"
echo "  consumer: $passed passed, 0 failed"
