#!/usr/bin/env bash
# Configures and builds syncblock into ./build (or $BUILD_DIR). Extra arguments
# go to cmake's configure step, e.g. -DSYNCBLOCK_ASAN=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
"$(dirname "$0")/install-deps.sh"
cmake -S . -B "$BUILD_DIR" -G Ninja -DSYNCBLOCK_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
