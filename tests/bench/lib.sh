# Shared by the benchmark scripts (sourced, not run): starting the targets.
# Expects $work (a temp dir), $sb (the syncblock binary), $volume_size, and
# the variables nbdkit_pid and cluster_up that the caller's cleanup reads.

# Runs the caller's `cleanup` on exit, and on INT and TERM too, and copies
# $syncblock_src to $work/bin/syncblock, the name `local down` recognises its
# processes by, so that a rebuild during a run changes nothing measured; sets
# $sb.
bench_setup() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$work/bin"
  cp "$syncblock_src" "$work/bin/syncblock"
  sb="$work/bin/syncblock"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until an NBD server answers at $1 (a URI), at most 30 s.
wait_nbd() {
  local i
  for ((i = 0; i < 300; i++)); do
    nbdinfo --size "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: no NBD server answers at $1" >&2
  return 1
}

start_nbdkit() {
  local port
  port="$(free_port)"
  truncate -s "$volume_size" "$work/nbdkit.img"
  nbdkit -f -i 127.0.0.1 -p "$port" file "$work/nbdkit.img" 2>"$work/nbdkit.log" &
  nbdkit_pid=$!
  wait_nbd "nbd://127.0.0.1:$port"
  uri_nbdkit="nbd://127.0.0.1:$port"
}

start_cluster() {
  cluster_up=1  # before `up`, so a half-started cluster is still taken down
  # Plaintext (--insecure): fio's nbd engine cannot present a client
  # certificate (it does not let libnbd read the URI's tls-certificates=DIR),
  # and TLS exports require one. What TLS costs has benchmarks of its own:
  # nbd_tls_bench.sh (the NBD export) and ReplicationTlsBench (the links).
  # BENCH_UP_ARGS: more `local up` flags.
  # shellcheck disable=SC2086
  "$sb" local up --dir "$work/cluster" --nodes 3 --no-csi --insecure ${BENCH_UP_ARGS:-} \
    >"$work/local-up.log" 2>&1 ||
    { cat "$work/local-up.log" >&2; return 1; }
}

# Creates volume $1 with $2 replicas, waits for every replica in sync, sets uri_<var $3>.
make_volume() {
  local name="$1" replicas="$2" uri i
  "$sb" ctl --cluster "$work/cluster" volume create "$name" --size "$volume_size" \
    --replicas "$replicas" >/dev/null
  for ((i = 0; i < 300; i++)); do
    if "$sb" ctl --cluster "$work/cluster" -o json volume show "$name" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if len(d["replicas"]) == int(sys.argv[1])
         and all(r["state"] == "in_sync" for r in d["replicas"]) else 1)' "$replicas"; then
      break
    fi
    sleep 0.1
  done
  if ((i == 300)); then
    echo "bench: volume $name never became healthy:" >&2
    "$sb" ctl --cluster "$work/cluster" volume show "$name" >&2 || true
    return 1
  fi
  uri="$("$sb" ctl --cluster "$work/cluster" export "$name")"
  wait_nbd "$uri"
  printf -v "$3" '%s' "$uri"
}

# Waits until every replica of volume $1 is in sync, at most two minutes.
wait_in_sync() {
  local i
  for ((i = 0; i < 600; i++)); do
    "$sb" ctl --cluster "$work/cluster" -o json volume show "$1" | python3 -c '
import json, sys
sys.exit(0 if all(r["state"] == "in_sync" for r in json.load(sys.stdin)["replicas"]) else 1)' &&
      return 0
    sleep 0.2
  done
  echo "bench: volume $1 never became healthy" >&2
  return 1
}
