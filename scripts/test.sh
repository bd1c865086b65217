#!/usr/bin/env bash
# README command 2: installs what is missing, builds everything with -Werror,
# and runs every test: unit, integration and fault tests (ctest), the Helm
# chart tests, and the image built and run with podman. Exits non-zero when
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

scripts/install-deps.sh
scripts/install-helm.sh || echo "helm could not be installed: the chart tests will say so"
scripts/build.sh

# Tests start real processes and mounts; keep their temporary files together.
export TMPDIR=${TMPDIR:-/tmp}

# What failed, repeated at the very end: CI keeps only the tail of the output.
failed=()
fail() {
  failed+=("$1")
}

(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 900 -j 1) || {
  fail "ctest"
  if [ -f "$BUILD_DIR/Testing/Temporary/LastTestsFailed.log" ]; then
    while read -r t; do fail "  ctest: $t"; done <"$BUILD_DIR/Testing/Temporary/LastTestsFailed.log"
  fi
}

# The engine's unit tests again under ThreadSanitizer, in a build of their own
# that holds only the engine library and those tests.
TSAN_DIR=${TSAN_BUILD_DIR:-$BUILD_DIR-tsan}
cmake -S . -B "$TSAN_DIR" -G Ninja -DSYNCBLOCK_WERROR=ON -DSYNCBLOCK_TSAN=ON \
  -DSYNCBLOCK_ENGINE_TESTS_ONLY=ON >/dev/null
cmake --build "$TSAN_DIR" -j "$(nproc)" --target engine_tests
# detect_deadlocks=0: TSAN's lock-order detector aborts when a thread holds
# more than 64 mutexes, which the snapshot chain's LockAll() of its region
# stripes does by design; data races are still reported.
TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0" "$TSAN_DIR/tests/engine/engine_tests" ||
  fail "engine_tests under ThreadSanitizer"

if [ -n "${CI:-}" ]; then export SYNCBLOCK_REQUIRE_HELM=1; fi
tests/chart/chart_test.sh || fail "tests/chart/chart_test.sh"
tests/chart/snapshot_metadata_chart_test.sh || fail "tests/chart/snapshot_metadata_chart_test.sh"
tests/chart/tls_chart_test.sh || fail "tests/chart/tls_chart_test.sh"

# The image, packaged from the binary built above (scripts/image.sh, podman),
# and run for real (tests/container/container_test.sh). Without podman or
# docker this is skipped, except in CI.
image_start=$(date +%s)
if command -v podman >/dev/null 2>&1 || command -v docker >/dev/null 2>&1 || [ -n "${CI:-}" ]; then
  if scripts/image.sh; then
    tests/container/container_test.sh || fail "tests/container/container_test.sh"
    tests/container/tls_issue_test.sh || fail "tests/container/tls_issue_test.sh"
  else
    echo "FAIL scripts/image.sh could not build the image"
    fail "scripts/image.sh"
  fi
  echo "image build and container test took $(( $(date +%s) - image_start )) s"
else
  echo "SKIP image and container test: no podman or docker (apt-get install podman runc debootstrap)"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "=== FAILED:"
  printf '%s\n' "${failed[@]}"
  exit 1
fi
echo "=== every test passed"
