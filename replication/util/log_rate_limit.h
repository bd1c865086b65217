// Rate limiting of repeated log lines, for every logger of the process.
//
// A storage node answering a retrying client can write the same error line
// thousands of times a minute (one per refused request), which buries every
// other line and fills disks. RateLimitSink sits in front of the real sinks
// and passes each distinct line (same level, same text) at most `burst` times
// per `window`; further copies are counted, not written. When the line next
// passes (its window over) it carries the count:
//
//   volume v1: write failed: no space [42 identical lines suppressed in 10s]
//
// and lines that stop repeating get their count written by the next line of
// any kind after their window, or by flush() (which does not reset limits). Lines that differ
// (another volume, another offset) are counted apart. Levels above `max_level` (trace/debug when
// info is the limit) are not touched: they are off in production and wanted verbatim when on.
//
// Thread-safe (spdlog's base_sink serialises sink_it_).
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace syncblock {

struct LogRateLimit {
  std::chrono::milliseconds window{10000};
  int burst = 3;
  // Distinct lines remembered at once; beyond that, new lines pass unlimited
  // (never dropped for lack of memory) until old windows expire.
  size_t max_lines = 4096;
  // Lines at this level or above are limited.
  spdlog::level::level_enum min_level = spdlog::level::info;
};

class RateLimitSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RateLimitSink(spdlog::sink_ptr target, LogRateLimit limit = {});

  // Lines suppressed since the sink was made (for tests and metrics).
  uint64_t suppressed_total() const { return suppressed_total_.load(std::memory_order_relaxed); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  struct Line {
    spdlog::log_clock::time_point window_start;
    int passed = 0;           // copies written in this window
    uint64_t suppressed = 0;  // copies dropped in this window
    spdlog::level::level_enum level = spdlog::level::info;
    std::string logger_name;
  };

  void Handle(const spdlog::details::log_msg& msg);
  void Write(const spdlog::details::log_msg& msg, const std::string& payload, const Line& line);
  // Writes the counts of lines whose window ended at `now` and forgets them;
  // with `all`, also writes (and zeroes) the counts of the others.
  void Sweep(spdlog::log_clock::time_point now, bool all);

  const spdlog::sink_ptr target_;
  const LogRateLimit limit_;
  std::map<std::string, Line> lines_;  // key: level byte + text; ordered for the sweep
  spdlog::log_clock::time_point last_sweep_{};
  std::atomic<uint64_t> suppressed_total_{0};
};

// Puts a RateLimitSink in front of the default logger's sinks. Call once at
// startup, before any thread logs.
void InstallLogRateLimit(LogRateLimit limit = {});

}  // namespace syncblock
