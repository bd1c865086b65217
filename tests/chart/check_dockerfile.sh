#!/usr/bin/env bash
# Static checks of the repository's Dockerfile and .dockerignore, for machines
# without a Docker engine: stages and COPY --from references, the build and
# test commands, the runtime image's packages against the tools the node
# plugin runs and the libraries a built binary links, the non-root user.
# Runs hadolint too when it is installed.
#
# usage: check_dockerfile.sh [REPO_ROOT]
# Prints "PASS name" / "FAIL name: why" lines; exits 1 if any check failed.
# SYNCBLOCK_BINARY names a built binary to compare with the runtime packages
# (default: the newest build*/syncblock under REPO_ROOT, if any).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DOCKERFILE="$ROOT/Dockerfile"
failures=0
pass() { echo "PASS $*"; }
fail() { failures=$((failures + 1)); echo "FAIL $*"; }

if [ ! -f "$DOCKERFILE" ]; then
  fail "Dockerfile exists"
  exit 1
fi

# Instructions, one per line: comments dropped, continuations joined.
INSTR=$(sed -e '/^[[:space:]]*#/d' "$DOCKERFILE" | awk '
  { line = $0
    if (sub(/\\[[:space:]]*$/, "", line)) { buf = buf line " "; next }
    print buf line; buf = "" }
  END { if (buf != "") print buf }' | sed -e '/^[[:space:]]*$/d')

# ARGs declared before the first FROM, with their defaults (used in FROM).
declare -A GLOBAL_ARGS=()
while read -r kw rest; do
  [ "${kw^^}" = "FROM" ] && break
  if [ "${kw^^}" = "ARG" ] && [[ "$rest" == *=* ]]; then
    GLOBAL_ARGS[${rest%%=*}]=${rest#*=}
  fi
done <<<"$INSTR"

# Stages in order: "image name" (name may be empty).
stages=()
names=()
images=()
current=""
declare -A STAGE_TEXT=()
while read -r kw rest; do
  if [ "${kw^^}" = "FROM" ]; then
    read -r -a words <<<"$rest"
    img=""
    name=""
    for ((i = 0; i < ${#words[@]}; i++)); do
      case "${words[$i]}" in
        --*) ;;
        [Aa][Ss]) name=${words[$((i + 1))]}; break ;;
        *) [ -z "$img" ] && img=${words[$i]} ;;
      esac
    done
    # Resolve ${VAR} / $VAR from the global ARG defaults.
    if [[ "$img" =~ ^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$ ]]; then
      img=${GLOBAL_ARGS[${BASH_REMATCH[1]}]:-$img}
    fi
    stages+=("${#stages[@]}")
    names+=("$name")
    images+=("$img")
    current=${#stages[@]}
  fi
  [ -n "$current" ] && STAGE_TEXT[$current]+="$kw $rest"$'\n'
done <<<"$INSTR"

n=${#stages[@]}
if [ "$n" -ge 2 ]; then pass "multi-stage ($n stages: ${names[*]})"
else fail "multi-stage: found $n stage(s)"; fi

dups=$(printf '%s\n' "${names[@]}" | grep -v '^$' | sort | uniq -d)
if [ -z "$dups" ]; then pass "stage names unique"; else fail "stage names unique: $dups"; fi

stage_index() {  # name -> 1-based index, or empty
  local i
  for ((i = 0; i < n; i++)); do
    [ "${names[$i]}" = "$1" ] && { echo $((i + 1)); return; }
  done
}

build=$(stage_index build)
runtime=$(stage_index runtime)
if [ -n "$build" ] && [ "${images[$((build - 1))]}" = "debian:12" ]; then
  pass "stage 'build' is FROM debian:12"
else
  fail "stage 'build' is FROM debian:12 (got '${images[$(( ${build:-1} - 1 ))]:-none}')"
fi
if [ -n "$runtime" ] && [ "$runtime" -eq "$n" ] \
    && [ "${images[$((runtime - 1))]}" = "debian:12-slim" ]; then
  pass "last stage 'runtime' is FROM debian:12-slim"
else
  fail "last stage 'runtime' is FROM debian:12-slim"
fi

# Every COPY --from names an earlier stage (or an earlier stage's index).
bad_from=""
refs=0
for ((s = 1; s <= n; s++)); do
  while read -r kw rest; do
    [ "${kw^^}" = "COPY" ] || continue
    from=$(grep -oE -- '--from=[^ ]+' <<<"$rest" | head -1)
    [ -n "$from" ] || continue
    refs=$((refs + 1))
    ref=${from#--from=}
    if [[ "$ref" =~ ^[0-9]+$ ]]; then
      [ "$ref" -lt $((s - 1)) ] || bad_from+=" $ref(in stage $s)"
    else
      idx=$(stage_index "$ref")
      { [ -n "$idx" ] && [ "$idx" -lt "$s" ]; } || bad_from+=" $ref(in stage $s)"
    fi
  done <<<"${STAGE_TEXT[$s]}"
done
if [ "$refs" -gt 0 ] && [ -z "$bad_from" ]; then
  pass "COPY --from references earlier stages ($refs)"
else
  fail "COPY --from references earlier stages:${bad_from:- none found}"
fi

# Plain COPY sources exist in the build context (and are not ignored); the
# "prebuilt" stage copies a binary scripts/image.sh puts in its own context.
prebuilt=$(stage_index prebuilt)
missing=""
while read -r kw rest; do
  [ "${kw^^}" = "COPY" ] || continue
  [ -n "$prebuilt" ] && grep -qxF "COPY $rest" <<<"${STAGE_TEXT[$prebuilt]}" && continue
  grep -q -- '--from=' <<<"$rest" && continue
  read -r -a words <<<"$(sed -E 's/--[a-z]+=[^ ]+//g' <<<"$rest")"
  for ((i = 0; i < ${#words[@]} - 1; i++)); do
    [ -e "$ROOT/${words[$i]}" ] || missing+=" ${words[$i]}"
  done
done <<<"$INSTR"
if [ -z "$missing" ]; then pass "COPY sources exist"; else fail "COPY sources exist:$missing"; fi

build_text=${STAGE_TEXT[${build:-0}]:-}
runtime_text=${STAGE_TEXT[${runtime:-0}]:-}

has() {  # has NAME TEXT REGEX
  if grep -qE -- "$3" <<<"$2"; then pass "$1"; else fail "$1: no match for /$3/"; fi
}
has "build stage installs deps with scripts/install-deps.sh" "$build_text" \
  '^RUN .*scripts/install-deps\.sh'
has "build stage configures like the README (cmake -S . -B build -G Ninja)" "$build_text" \
  'cmake -S \. -B build -G Ninja'
has "build stage builds (cmake --build build)" "$build_text" 'cmake --build build'
has "build stage declares ARG SKIP_TESTS" "$build_text" '^ARG SKIP_TESTS(=|$)'
has "build stage runs ctest unless SKIP_TESTS=1" "$build_text" \
  'SKIP_TESTS.*=.*"?1"?.*ctest --test-dir build|SKIP_TESTS.*ctest'
has "runtime copies the binary from the build stage" "$runtime_text" \
  '^COPY --from=(build|binary) [^ ]+ /usr/local/bin/syncblock'
# "binary" is the build stage unless BINARY_STAGE says prebuilt (scripts/image.sh).
if [ -z "$(stage_index binary)" ] || [ "${GLOBAL_ARGS[BINARY_STAGE]:-build}" = "build" ]; then
  pass "the binary comes from the build stage by default"
else
  fail "the binary comes from the build stage by default (BINARY_STAGE=${GLOBAL_ARGS[BINARY_STAGE]})"
fi
if [ -n "$prebuilt" ] && grep -qE '^COPY syncblock /out/syncblock' <<<"${STAGE_TEXT[$prebuilt]}"; then
  pass "stage 'prebuilt' takes the binary scripts/image.sh hands it"
elif [ -n "$prebuilt" ]; then
  fail "stage 'prebuilt' takes the binary scripts/image.sh hands it (COPY syncblock /out/syncblock)"
fi
has "runtime checks the binary's libraries resolve (ldd)" "$runtime_text" 'ldd /usr/local/bin/syncblock'
has "runtime entrypoint is the binary" "$runtime_text" \
  '^ENTRYPOINT \["/usr/local/bin/syncblock"\]'

last_user=$(grep -E '^USER ' <<<"$runtime_text" | tail -1 | awk '{print $2}')
if [ -n "$last_user" ] && [[ ! "$last_user" =~ ^(0|root)(:.*)?$ ]]; then
  pass "runtime runs as a non-root USER ($last_user)"
else
  fail "runtime runs as a non-root USER (got '${last_user:-none}')"
fi

# Packages the runtime stage installs.
RUNTIME_PKGS=$(grep -E '^RUN .*apt-get install' <<<"$runtime_text" \
  | sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -vE '^-|^$' | sort -u)
# Packages whose files are taken with `apt-get download` + `dpkg-deb -x`
# (xfsprogs: its tools without its python3/ICU dependencies).
EXTRACTED_PKGS=$(grep -oE 'apt-get download [a-z0-9.+-]+' <<<"$runtime_text" | awk '{print $3}' | sort -u)
# The tools the node plugin runs, and the package each comes from on Debian 12.
declare -A TOOL_PKG=(
  [mkfs.ext4]=e2fsprogs [resize2fs]=e2fsprogs [e2fsck]=e2fsprogs [mkfs.xfs]=xfsprogs [xfs_growfs]=xfsprogs
  [blkid]=util-linux [mount]=mount [umount]=mount [losetup]=mount [modprobe]=kmod
  [fusermount3]=fuse3 [openssl]=openssl)
missing=""
for tool in "${!TOOL_PKG[@]}"; do
  if grep -qx "${TOOL_PKG[$tool]}" <<<"$EXTRACTED_PKGS"; then
    # Extracted: the tool itself must be installed from the package.
    grep -qE "install .*/$tool( |$)" <<<"$runtime_text" || missing+=" $tool(${TOOL_PKG[$tool]}, not installed)"
    continue
  fi
  grep -qx "${TOOL_PKG[$tool]}" <<<"$RUNTIME_PKGS" || missing+=" $tool(${TOOL_PKG[$tool]})"
done
if [ -z "$missing" ]; then pass "runtime installs every tool the node plugin runs"
else fail "runtime installs every tool the node plugin runs; missing:$missing"; fi
for lib in libgrpc++1.51 libprotobuf32 libspdlog1.10 libfuse3-3 liburing2; do
  if grep -qx "$lib" <<<"$RUNTIME_PKGS"; then pass "runtime installs $lib"
  else fail "runtime installs $lib"; fi
done
has "runtime cleans the apt lists" "$runtime_text" 'rm -rf /var/lib/apt/lists'
extra=$(grep -xE 'build-essential|cmake|ninja-build|g\+\+|gcc|clang|.*-dev' <<<"$RUNTIME_PKGS")
if [ -z "$extra" ]; then pass "runtime installs no build tools or -dev packages"
else fail "runtime installs no build tools or -dev packages: ${extra//$'\n'/ }"; fi

# With a built binary at hand: every Debian package its libraries come from
# must be installed in the runtime image, by name or as a dependency.
# shellcheck disable=SC2012  # newest first; build directory names are plain
binary=${SYNCBLOCK_BINARY:-$(ls -t "$ROOT"/build*/syncblock 2>/dev/null | head -1)}
if [ -n "$binary" ] && [ -x "$binary" ] && command -v ldd >/dev/null \
    && command -v dpkg >/dev/null && command -v apt-cache >/dev/null; then
  needed=""
  for lib in $(ldd "$binary" 2>/dev/null | awk '/=>/ {print $3}'); do
    real=$(readlink -f "$lib")
    pkg=""
    for cand in "$lib" "$real" "/usr$real" "${real#/usr}"; do
      pkg=$(dpkg -S "$cand" 2>/dev/null | head -1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    needed+=" ${pkg:-?$lib}"
  done
  # shellcheck disable=SC2086  # one argument per package
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $RUNTIME_PKGS 2>/dev/null \
    | grep -vE '^ |<' | sed 's/:.*//' | sort -u)
  # The base image's own libraries (libc6, libstdc++6, libgcc-s1) need no listing.
  base="libc6 libstdc++6 libgcc-s1"
  uncovered=""
  for pkg in $(tr ' ' '\n' <<<"$needed" | sort -u); do
    [[ " $base " == *" $pkg "* ]] && continue
    grep -qx -- "$pkg" <<<"$closure" || uncovered+=" $pkg"
  done
  if [ -z "$uncovered" ]; then
    pass "runtime packages cover every library $binary links"
  else
    fail "runtime packages cover every library the binary links; missing:$uncovered"
  fi
else
  echo "NOTE no built syncblock binary (or no dpkg/apt-cache): library coverage not checked"
fi

# .dockerignore keeps host build trees and .git out of the context.
if [ -f "$ROOT/.dockerignore" ]; then
  for pat in .git build 'build-\*'; do
    if grep -qx -- "$pat" "$ROOT/.dockerignore"; then pass ".dockerignore excludes ${pat//\\/}"
    else fail ".dockerignore excludes ${pat//\\/}"; fi
  done
  # Nothing the Dockerfile copies by name may be ignored.
  if grep -qxE 'scripts(/.*)?' "$ROOT/.dockerignore"; then fail ".dockerignore keeps scripts/"
  else pass ".dockerignore keeps scripts/"; fi
else
  fail ".dockerignore exists"
fi

if command -v hadolint >/dev/null 2>&1; then
  if hadolint "$DOCKERFILE"; then pass "hadolint"; else fail "hadolint"; fi
else
  echo "NOTE hadolint not installed: lint skipped (static checks above only)"
fi

[ "$failures" -eq 0 ]
