// initiator_bench_tool: drives one NBD workload through one of two
// initiators against one export, and prints what it achieved. Used by
// initiator_bench.sh to compare the initiator's connection pool (what
// fuse-export runs; its connections were syncblock's hand-written NBD client
// until commit 2e2fd81, libnbd handles since) with libnbd's own pipelining
// (issue 13 item 9). A measurement, not a test.
//
//   initiator_bench_tool --client pool|libnbd --uri nbd://h:p/name
//       --pattern randwrite|randread|seqwrite|seqread --bs BYTES --qd N
//       [--seconds S] [--connections C]
//
// How each initiator keeps `qd` requests in flight, as its user would:
//   pool    qd threads, each sending one request at a time through the
//           connection pool (as fuse-export's FUSE threads do); the pool
//           opens up to `connections` sockets (fuse-export's default 8).
//   libnbd  one thread and `connections` handles (default 1), qd requests
//           in flight spread over them with nbd_aio_pwrite/pread, completion
//           callbacks and nbd_poll: libnbd's own pipelining.
//
// Output: one line, "client=... pattern=... bs=... qd=... iops=... MiBps=...
// errors=...".
#include <libnbd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "replication/initiator/nbd_pool.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string client = "pool";
  std::string uri;
  std::string pattern = "randwrite";
  uint32_t bs = 4096;
  int qd = 1;
  double seconds = 5;
  int connections = 0;  // 0 = the initiator's default
};

bool IsWrite(const Args& a) { return a.pattern == "randwrite" || a.pattern == "seqwrite"; }
bool IsRandom(const Args& a) { return a.pattern == "randwrite" || a.pattern == "randread"; }

// Offsets for one stream of requests: random bs-aligned, or sequential
// (wrapping) from a per-stream start so parallel streams do not overlap.
class Offsets {
 public:
  Offsets(const Args& a, uint64_t size, int stream)
      : random_(IsRandom(a)), bs_(a.bs), blocks_(size / a.bs), rng_(1234 + stream) {
    next_ = (blocks_ / static_cast<uint64_t>(a.qd)) * static_cast<uint64_t>(stream);
  }
  uint64_t Next() {
    if (random_) return (rng_() % blocks_) * bs_;
    uint64_t b = next_++ % blocks_;
    return b * bs_;
  }

 private:
  bool random_;
  uint64_t bs_;
  uint64_t blocks_;
  uint64_t next_ = 0;
  std::mt19937_64 rng_;
};

struct Result {
  uint64_t ops = 0;
  uint64_t errors = 0;
  double seconds = 0;
  std::vector<double> latency_us;  // libnbd: each completed request's
};

Result RunPool(const Args& a) {
  using namespace syncblock::repl::initiator;
  auto uri = ParseNbdUri(a.uri);
  if (!uri.ok()) {
    std::fprintf(stderr, "%s\n", uri.status().ToString().c_str());
    std::exit(2);
  }
  NbdPool pool(a.connections > 0 ? a.connections : 8);
  absl::Status st = pool.Connect(*uri);
  if (!st.ok()) {
    std::fprintf(stderr, "connect: %s\n", st.ToString().c_str());
    std::exit(2);
  }
  const uint64_t size = pool.size();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0}, errors{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < a.qd; ++t) {
    threads.emplace_back([&, t] {
      Offsets offsets(a, size, t);
      std::string buf(a.bs, static_cast<char>('a' + t % 26));
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t off = offsets.Next();
        NbdPool::Outcome out = pool.Run([&](NbdIoConnection& c) {
          return IsWrite(a) ? c.Write(off, a.bs, buf.data()) : c.Read(off, a.bs, buf.data());
        });
        (out.status.ok() ? ops : errors).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.ops = ops;
  r.errors = errors;
  return r;
}

// One in-flight request slot of the libnbd driver.
struct Slot {
  std::vector<char> buf;
  bool busy = false;
  uint64_t* ops = nullptr;
  uint64_t* errors = nullptr;
  std::vector<double>* latency_us = nullptr;
  Clock::time_point started;
};

// Runs inside nbd_poll with the handle's lock held: no libnbd call here.
int OnComplete(void* user_data, int* error) {
  auto* slot = static_cast<Slot*>(user_data);
  slot->busy = false;
  ++*(*error == 0 ? slot->ops : slot->errors);
  slot->latency_us->push_back(
      std::chrono::duration<double, std::micro>(Clock::now() - slot->started).count());
  return 1;  // retire the command: it is never asked about again
}

Result RunLibnbd(const Args& a) {
  const int handles = a.connections > 0 ? a.connections : 1;
  std::vector<nbd_handle*> h(static_cast<size_t>(handles));
  for (auto& hh : h) {
    hh = nbd_create();
    // nbds://...?tls-certificates=DIR names a local directory, which libnbd
    // allows only when asked (fio's nbd engine does not ask, so it cannot do
    // TLS with certificates).
    if (hh == nullptr || nbd_set_uri_allow_local_file(hh, true) == -1 ||
        nbd_connect_uri(hh, a.uri.c_str()) == -1) {
      std::fprintf(stderr, "libnbd: %s\n", nbd_get_error());
      std::exit(2);
    }
  }
  const uint64_t size = static_cast<uint64_t>(nbd_get_size(h[0]));
  Result r;
  std::vector<Slot> slots(static_cast<size_t>(a.qd));
  std::vector<Offsets> offsets;
  for (int i = 0; i < a.qd; ++i) {
    slots[i].buf.assign(a.bs, static_cast<char>('a' + i % 26));
    slots[i].ops = &r.ops;
    slots[i].errors = &r.errors;
    slots[i].latency_us = &r.latency_us;
    offsets.emplace_back(a, size, i);
  }
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  for (;;) {
    const bool stopping = Clock::now() >= end;
    int in_flight = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (!s.busy && !stopping) {
        s.busy = true;
        s.started = Clock::now();
        nbd_handle* hh = h[i % h.size()];
        nbd_completion_callback cb{OnComplete, &s, nullptr};
        const uint64_t off = offsets[i].Next();
        int64_t rc = IsWrite(a) ? nbd_aio_pwrite(hh, s.buf.data(), a.bs, off, cb, 0)
                                : nbd_aio_pread(hh, s.buf.data(), a.bs, off, cb, 0);
        if (rc == -1) {
          std::fprintf(stderr, "libnbd: %s\n", nbd_get_error());
          std::exit(1);
        }
      }
      if (s.busy) ++in_flight;
    }
    if (in_flight == 0) break;
    // One handle: block in nbd_poll. Several: poll each without blocking
    // (nbdcopy does the same with one thread per handle; this keeps one).
    for (nbd_handle* hh : h) {
      if (nbd_aio_in_flight(hh) > 0 && nbd_poll(hh, h.size() == 1 ? -1 : 0) == -1) {
        std::fprintf(stderr, "libnbd: %s\n", nbd_get_error());
        std::exit(1);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (nbd_handle* hh : h) {
    nbd_shutdown(hh, 0);
    nbd_close(hh);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--client")
      a.client = v;
    else if (k == "--uri")
      a.uri = v;
    else if (k == "--pattern")
      a.pattern = v;
    else if (k == "--bs")
      a.bs = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--qd")
      a.qd = std::stoi(v);
    else if (k == "--seconds")
      a.seconds = std::stod(v);
    else if (k == "--connections")
      a.connections = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (a.uri.empty() || a.qd < 1 || a.bs == 0) {
    std::fprintf(stderr, "usage: %s --client pool|libnbd --uri URI --pattern P --bs B --qd N\n",
                 argv[0]);
    return 2;
  }
  Result r = a.client == "libnbd" ? RunLibnbd(a) : RunPool(a);
  const double iops = static_cast<double>(r.ops) / r.seconds;
  double p99 = 0;
  if (!r.latency_us.empty()) {
    std::sort(r.latency_us.begin(), r.latency_us.end());
    p99 = r.latency_us[std::min(r.latency_us.size() - 1, r.latency_us.size() * 99 / 100)];
  }
  std::printf("client=%s pattern=%s bs=%u qd=%d iops=%.0f MiBps=%.1f errors=%llu p99us=%.0f\n",
              a.client.c_str(), a.pattern.c_str(), a.bs, a.qd, iops, iops * a.bs / (1 << 20),
              static_cast<unsigned long long>(r.errors), p99);
  return r.errors == 0 ? 0 : 1;
}
