#include "replication/qos/io_limiter.h"

#include <algorithm>

namespace syncblock::repl {
namespace {

// The smallest buckets: 20 ms of the limit, at least one IO or one page.
// Without that slack every late wake-up of the dispatch thread (a busy
// machine) would lose the tokens of its delay to a full one-IO bucket, and a
// volume would get less than its limit; 20 ms of burst does not show in any
// rate measured over seconds.
constexpr double kMinBurstSeconds = 0.02;
constexpr double kMinIoCapacity = 1;
constexpr double kMinByteCapacity = 4096;

}  // namespace

IoLimiter::IoLimiter(Clock* clock, bool start_thread) : clock_(clock), start_thread_(start_thread) {
  Configure(QosSettings{});
}

IoLimiter::~IoLimiter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Nothing may be left behind: a request the limiter drops would never
  // complete, and its client would hang.
  std::deque<Waiting> rest;
  {
    std::lock_guard<std::mutex> l(mu_);
    rest.swap(queue_);
  }
  for (auto& w : rest) w.device->Submit(std::move(w.request));
}

void IoLimiter::Configure(const QosSettings& settings) {
  {
    std::lock_guard<std::mutex> l(mu_);
    settings_ = settings;
    auto now = clock_->Now();
    double iops = static_cast<double>(settings.max_iops);
    double bps = static_cast<double>(settings.max_bandwidth);
    const double burst = std::max(kMinBurstSeconds, settings.burst_seconds);
    iops_.Configure(iops, std::max(kMinIoCapacity, iops * burst), now);
    bandwidth_.Configure(bps, std::max(kMinByteCapacity, bps * burst), now);
  }
  cv_.notify_all();
}

QosSettings IoLimiter::settings() const {
  std::lock_guard<std::mutex> l(mu_);
  return settings_;
}

double IoLimiter::IoCost(const IoRequest& r) { return r.op == IoOp::kFlush ? 0 : 1; }

double IoLimiter::ByteCost(const IoRequest& r) {
  return r.op == IoOp::kRead || r.op == IoOp::kWrite ? static_cast<double>(r.length) : 0;
}

bool IoLimiter::AdmitLocked(const IoRequest& r, Clock::TimePoint now) {
  const double io = IoCost(r);
  const double bytes = ByteCost(r);
  if (iops_.TimeUntil(io, now).count() > 0 || bandwidth_.TimeUntil(bytes, now).count() > 0) {
    return false;
  }
  iops_.TryTake(io, now);
  bandwidth_.TryTake(bytes, now);
  return true;
}

void IoLimiter::Submit(std::shared_ptr<BlockDevice> device, std::shared_ptr<IoRequest> request) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.requests;
    const auto now = clock_->Now();
    if (!(queue_.empty() && AdmitLocked(*request, now))) {
      ++stats_.delayed;
      queue_.push_back({std::move(device), std::move(request), now});
      if (start_thread_ && !thread_.joinable() && !stopping_) {
        thread_ = std::thread(&IoLimiter::Run, this);
      }
      cv_.notify_all();
      return;
    }
  }
  device->Submit(std::move(request));
}

std::optional<std::chrono::nanoseconds> IoLimiter::DrainLocked(Clock::TimePoint now,
                                                               std::deque<Waiting>* out) {
  while (!queue_.empty()) {
    Waiting& w = queue_.front();
    if (!AdmitLocked(*w.request, now)) {
      return std::max(iops_.TimeUntil(IoCost(*w.request), now),
                      bandwidth_.TimeUntil(ByteCost(*w.request), now));
    }
    if (now > w.since) stats_.delay_seconds += std::chrono::duration<double>(now - w.since).count();
    out->push_back(std::move(w));
    queue_.pop_front();
  }
  return std::nullopt;
}

std::optional<std::chrono::nanoseconds> IoLimiter::Pump() {
  std::deque<Waiting> ready;
  std::optional<std::chrono::nanoseconds> next;
  {
    std::lock_guard<std::mutex> l(mu_);
    next = DrainLocked(clock_->Now(), &ready);
  }
  for (auto& w : ready) w.device->Submit(std::move(w.request));
  return next;
}

void IoLimiter::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    std::deque<Waiting> ready;
    auto next = DrainLocked(clock_->Now(), &ready);
    if (!ready.empty()) {
      // No lock across Submit: the device may complete the request inline.
      l.unlock();
      for (auto& w : ready) w.device->Submit(std::move(w.request));
      l.lock();
      continue;
    }
    if (stopping_) return;
    if (next) {
      cv_.wait_for(l, *next);
    } else {
      cv_.wait(l);
    }
  }
}

IoLimiterStats IoLimiter::Stats() const {
  std::lock_guard<std::mutex> l(mu_);
  IoLimiterStats s = stats_;
  s.settings = settings_;
  s.queued = queue_.size();
  return s;
}

}  // namespace syncblock::repl
