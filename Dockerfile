# syntax=docker/dockerfile:1
#
# The syncblock image: one binary that runs as the storage daemon, the CSI
# controller and the CSI node plugin (see charts/syncblock).
#
#   docker build -t syncblock .                     # build, run the tests, package
#   docker build --build-arg SKIP_TESTS=1 -t syncblock .
#   scripts/image.sh                                # podman or docker, from build/syncblock
#
# Stage "build" compiles on Debian 12 with the same commands as a developer
# machine (scripts/install-deps.sh, then CMake + Ninja) and runs the test
# suite; stage "runtime" is debian:12-slim with the binary, the shared
# libraries it links and the tools the node plugin runs, nothing else.
#
# BINARY_STAGE=prebuilt takes the binary from the build context instead (a
# context holding this file and an already built `syncblock`): that is how
# scripts/image.sh packages what scripts/build.sh compiled without compiling
# it a second time. The unused stage is skipped (BuildKit, buildah/podman).

ARG BUILD_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim
ARG BINARY_STAGE=build

# ---------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build

# SKIP_TESTS=1 packages without running the tests (they need a few minutes
# and, for the fault tests, more than a container's default limits).
ARG SKIP_TESTS=0
# Extra ctest arguments, e.g. --build-arg CTEST_ARGS="-LE fault".
ARG CTEST_ARGS=""
ARG CMAKE_BUILD_TYPE=RelWithDebInfo

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the list
# changes, not on every source edit.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DSYNCBLOCK_WERROR=ON \
      -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE} \
 && cmake --build build

# The tests start real processes on loopback; tests that need what a build
# container lacks (the nbd module, /dev/fuse, mounts) skip themselves.
RUN if [ "${SKIP_TESTS}" = "1" ]; then \
      echo "SKIP_TESTS=1: tests not run"; \
    else \
      ctest --test-dir build --output-on-failure -j"$(nproc)" ${CTEST_ARGS}; \
    fi

# Debug info stays in the build stage; the runtime image gets a stripped copy.
RUN install -D -m 0755 build/syncblock /out/syncblock \
 && strip --strip-debug /out/syncblock

# ---------------------------------------------------------------------------
# A binary built outside (scripts/image.sh strips it first).
FROM scratch AS prebuilt
COPY syncblock /out/syncblock

# The stage the runtime image takes its binary from: build or prebuilt.
FROM ${BINARY_STAGE} AS binary

# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ARG DEBIAN_FRONTEND=noninteractive

# Shared libraries of the binary (grpc, protobuf, abseil, spdlog + fmt,
# liburing, fuse3, libnbd (the initiator's NBD client), cpp-httplib with its
# openssl/zlib/brotli), then the tools
# the node plugin runs: mkfs.ext4/resize2fs/e2fsck (e2fsprogs), blkid
# (util-linux), mount/umount/losetup (mount), modprobe nbd (kmod) and
# fusermount3 (fuse3) for the attach path without the nbd module (the
# binary's own `fuse-export` serves the FUSE file), and openssl, with which
# the chart's tls-issue/tls-renew containers issue each pod its certificate
# (charts/syncblock/files/tls-issue.sh).
# From xfsprogs only mkfs.xfs, xfs_growfs and xfs_repair, with the libraries
# they link (libinih1, liburcu8): the package depends on python3 and ICU for
# xfs_scrub, some 60 MB the node plugin never runs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 \
      libspdlog1.10 libfmt9 liburing2 libfuse3-3 libnbd0 \
      libcpp-httplib0.11 libssl3 zlib1g libbrotli1 \
      e2fsprogs util-linux mount kmod fuse3 libinih1 liburcu8 openssl \
 && cd /tmp && apt-get download xfsprogs \
 && dpkg-deb -x xfsprogs_*.deb /tmp/xfsprogs \
 && install -m 0755 /tmp/xfsprogs/sbin/mkfs.xfs /tmp/xfsprogs/sbin/xfs_repair \
      /tmp/xfsprogs/usr/sbin/xfs_growfs /usr/sbin/ \
 && install -D -m 0644 /tmp/xfsprogs/usr/share/doc/xfsprogs/copyright \
      /usr/share/doc/xfsprogs/copyright \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/xfsprogs* \
 && mkfs.xfs -V && xfs_growfs -V

# The storage daemon's user. The node plugin pod overrides it with
# runAsUser 0 (it mounts and makes filesystems); the daemon never needs root.
# /var/lib/syncblock is its own, so a volume mounted there starts writable.
RUN groupadd --system --gid 65532 syncblock \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /var/lib/syncblock --shell /usr/sbin/nologin syncblock \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/syncblock

COPY --from=binary /out/syncblock /usr/local/bin/syncblock

# Fails the build when a library the binary links is missing from the list
# above, instead of at the first pod start.
RUN if ldd /usr/local/bin/syncblock | grep 'not found'; then exit 1; fi \
 && /usr/local/bin/syncblock version

LABEL org.opencontainers.image.title="syncblock" \
      org.opencontainers.image.description="Replicated block volumes for Kubernetes (CSI driver, storage daemon)"

USER 65532:65532
ENTRYPOINT ["/usr/local/bin/syncblock"]
CMD ["--help"]
