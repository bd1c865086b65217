#!/usr/bin/env bash
# Builds the syncblock image from the Dockerfile, with podman (Debian 12's
# package, no Docker engine needed) or with docker where an engine runs.
#
#   scripts/image.sh                 # runtime image from $BUILD_DIR/syncblock (no second compile)
#   scripts/image.sh --from-source   # the Dockerfile's build stage compiles (and tests) too
#   scripts/image.sh --base-only     # only make the base images (podman)
#
# Environment: IMAGE (default localhost/syncblock:dev), BUILD_DIR (default build),
# ENGINE (podman|docker; default: podman when installed, else docker).
#
# With podman, nothing is pulled: the base images the Dockerfile names
# (debian:12-slim, debian:12) are made here with debootstrap from the package
# source apt already uses (read from /etc/apt at run time), slimmed like
# Debian's own -slim images, and imported. They are made once and reused.
#
# Prints the image's size as its last line: "image IMAGE: N MB".
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/syncblock:dev}
BUILD_DIR=${BUILD_DIR:-build}
from_source=0
base_only=0
for arg in "$@"; do
  case "$arg" in
    --from-source) from_source=1 ;;
    --base-only) base_only=1 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image.sh: unknown argument '$arg' (see scripts/image.sh --help)" >&2; exit 2 ;;
  esac
done

if [ -z "${ENGINE:-}" ]; then
  if command -v podman >/dev/null 2>&1; then ENGINE=podman
  elif command -v docker >/dev/null 2>&1; then ENGINE=docker
  else
    echo "image.sh: neither podman nor docker is installed (apt-get install podman runc debootstrap)" >&2
    exit 3
  fi
fi

# The Debian mirror apt uses for bookworm: the deb822 sources first, then the
# one-line format. Printed, never written into the project.
apt_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '
      /^[[:space:]]*$/ { if (suite && uris != "") { print uris; exit } suite = 0; uris = ""; next }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
      END { if (suite && uris != "") print uris }' "$f" | head -1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  return 1
}

# debian:12-slim (and debian:12 for --from-source) in podman's store, made
# with debootstrap when missing. Debian's slim images drop documentation,
# manuals and translations; dpkg is told to keep doing so for later installs.
make_base_images() {
  local want=(debian:12-slim)
  [ "$from_source" -eq 1 ] && want+=(debian:12)
  local missing=0 t
  for t in "${want[@]}"; do
    podman image exists "$t" || missing=1
  done
  [ "$missing" -eq 0 ] && return 0
  command -v debootstrap >/dev/null || {
    echo "image.sh: debootstrap is needed to make the base image (apt-get install debootstrap)" >&2
    exit 3
  }
  local mirror rootfs
  mirror=$(apt_mirror) || { echo "image.sh: no bookworm source found under /etc/apt" >&2; exit 3; }
  rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/syncblock-rootfs.XXXXXX")
  cleanup+=("$rootfs" "$rootfs.log")
  echo "image.sh: debootstrap --variant=minbase bookworm (the base image, made once)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1
  }
  rm -f "$rootfs.log"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Install-Recommends "false";
EOF
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/cache/apt/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  tar -C "$rootfs" -c . | podman import - localhost/debian:bookworm-slim >/dev/null
  podman tag localhost/debian:bookworm-slim debian:12-slim debian:12
}

cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
if [ "$base_only" -eq 1 ]; then
  [ "$ENGINE" = podman ] && make_base_images
  exit 0
fi
ctx=$(mktemp -d "${TMPDIR:-/tmp}/syncblock-image.XXXXXX")
cleanup+=("$ctx")
build_args=()
if [ "$from_source" -eq 1 ]; then
  context=.
else
  # The runtime image takes the binary scripts/build.sh made: a small build
  # context holding the Dockerfile and a stripped copy, nothing compiled again.
  binary="$BUILD_DIR/syncblock"
  [ -x "$binary" ] || { echo "image.sh: $binary not found: run scripts/build.sh first" >&2; exit 3; }
  cp Dockerfile "$ctx/Dockerfile"
  install -m 0755 "$binary" "$ctx/syncblock"
  strip --strip-debug "$ctx/syncblock"
  context=$ctx
  build_args+=(--build-arg BINARY_STAGE=prebuilt)
fi

start=$(date +%s)
if [ "$ENGINE" = podman ]; then
  make_base_images
  # chroot isolation and the default ulimits are what work without
  # CAP_SYS_RESOURCE and with this kind of cgroup layout (podman's defaults fail).
  podman build --pull=never --isolation=chroot \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --target runtime "${build_args[@]}" -t "$IMAGE" -f "$context/Dockerfile" "$context"
else
  DOCKER_BUILDKIT=1 docker build --target runtime "${build_args[@]}" -t "$IMAGE" \
    -f "$context/Dockerfile" "$context"
fi
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
echo "image.sh: built in $(( $(date +%s) - start ))s"
echo "image $IMAGE: $(( size / 1000000 )) MB"
