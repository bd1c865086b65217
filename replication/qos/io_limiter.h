// The QoS limiter of one volume on its primary: every NBD request to the
// volume, from any connection, passes through it (ThrottledDevice), and goes
// on to the engine at once or when the volume's IOPS and bandwidth buckets
// allow, in arrival order. READ, WRITE, TRIM and WRITE_ZEROES cost one IO;
// READ and WRITE also their length in bandwidth; FLUSH costs nothing but
// waits its turn behind what came before it. Requests are delayed, never
// failed: a limit slows the application down and gives it no IO error.
//
// Submit() never blocks: a request that must wait is queued, and a thread of
// the limiter's own (started with the first request that waits) sends it on.
// Tests construct it with `start_thread` false and a FakeClock and call
// Pump() themselves.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "replication/block_device.h"
#include "replication/qos/qos_settings.h"
#include "replication/qos/token_bucket.h"
#include "replication/util/clock.h"

namespace syncblock::repl {

struct IoLimiterStats {
  QosSettings settings;
  uint64_t requests = 0;     // passed through the limiter
  uint64_t delayed = 0;      // of which waited for tokens
  double delay_seconds = 0;  // total time requests waited
  uint64_t queued = 0;       // waiting now
};

class IoLimiter {
 public:
  explicit IoLimiter(Clock* clock = Clock::Real(), bool start_thread = true);
  // Sends whatever still waits on to its device, then joins the thread.
  ~IoLimiter();
  IoLimiter(const IoLimiter&) = delete;
  IoLimiter& operator=(const IoLimiter&) = delete;

  // Takes effect for the requests that wait too. No limit sends them all.
  void Configure(const QosSettings& settings);
  QosSettings settings() const;

  // Sends `request` to `device` now, or queues it until the buckets allow.
  void Submit(std::shared_ptr<BlockDevice> device, std::shared_ptr<IoRequest> request);

  // Sends on every queued request the buckets allow now; returns how long
  // until the next one may go, or nullopt when nothing waits.
  std::optional<std::chrono::nanoseconds> Pump();

  IoLimiterStats Stats() const;

 private:
  struct Waiting {
    std::shared_ptr<BlockDevice> device;
    std::shared_ptr<IoRequest> request;
    Clock::TimePoint since;
  };
  static double IoCost(const IoRequest& r);
  static double ByteCost(const IoRequest& r);
  // Takes the tokens of `r` when both buckets allow it now. mu_ held.
  bool AdmitLocked(const IoRequest& r, Clock::TimePoint now);
  // Moves what may go now from the queue to `out`; the wait for the next one.
  std::optional<std::chrono::nanoseconds> DrainLocked(Clock::TimePoint now,
                                                      std::deque<Waiting>* out);
  void Run();

  Clock* const clock_;
  const bool start_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  QosSettings settings_;       // guarded by mu_
  TokenBucket iops_;           // guarded by mu_
  TokenBucket bandwidth_;      // guarded by mu_
  std::deque<Waiting> queue_;  // guarded by mu_
  IoLimiterStats stats_;       // guarded by mu_ (settings and queued filled on read)
  bool stopping_ = false;      // guarded by mu_
  std::thread thread_;         // started under mu_ with the first wait
};

// The BlockDevice an NBD connection gets: `inner` (the engine) behind the
// volume's limiter.
class ThrottledDevice : public BlockDevice {
 public:
  ThrottledDevice(std::shared_ptr<BlockDevice> inner, std::shared_ptr<IoLimiter> limiter)
      : inner_(std::move(inner)), limiter_(std::move(limiter)) {}
  uint64_t Size() const override { return inner_->Size(); }
  bool ReadOnly() const override { return inner_->ReadOnly(); }
  void Submit(std::shared_ptr<IoRequest> request) override {
    limiter_->Submit(inner_, std::move(request));
  }

 private:
  const std::shared_ptr<BlockDevice> inner_;
  const std::shared_ptr<IoLimiter> limiter_;
};

}  // namespace syncblock::repl
