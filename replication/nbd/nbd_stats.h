// Per-export counters of the NBD server, for the storage node's /metrics:
// commands and bytes by kind, errors, open connections, and a histogram of
// write latency (request received -> device completion).
//
// NbdExportCounters is updated from many threads with relaxed atomics (cheap
// on the data path); Snapshot() reads them without locking, so a snapshot may
// mix values from a few microseconds apart, which is fine for metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace syncblock::repl {

// Upper bounds (inclusive), in microseconds, of the write-latency buckets;
// an implicit +Inf bucket follows.
inline constexpr std::array<uint64_t, 16> kNbdLatencyBucketsUs = {
    50,    100,   250,    500,    1000,   2500,    5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

struct NbdExportStats {
  std::string export_name;
  uint64_t connections = 0;  // open now
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t flushes = 0;
  uint64_t trims = 0;
  uint64_t write_zeroes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors = 0;  // requests answered with a nonzero NBD error
  // Prometheus-style: cumulative counts per kNbdLatencyBucketsUs bound, then
  // the count for +Inf (== write_latency_count).
  std::array<uint64_t, kNbdLatencyBucketsUs.size() + 1> write_latency_buckets{};
  uint64_t write_latency_count = 0;
  uint64_t write_latency_sum_us = 0;
};

class NbdExportCounters {
 public:
  explicit NbdExportCounters(std::string export_name) : export_name_(std::move(export_name)) {}

  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void Read(uint64_t bytes) { Add(reads_, bytes_read_, bytes); }
  void Write(uint64_t bytes, uint64_t latency_us);
  void Flush() { flushes_.fetch_add(1, std::memory_order_relaxed); }
  void Trim() { trims_.fetch_add(1, std::memory_order_relaxed); }
  void WriteZeroes() { write_zeroes_.fetch_add(1, std::memory_order_relaxed); }
  void Error() { errors_.fetch_add(1, std::memory_order_relaxed); }

  NbdExportStats Snapshot() const;

 private:
  static void Add(std::atomic<uint64_t>& count, std::atomic<uint64_t>& bytes, uint64_t n) {
    count.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(n, std::memory_order_relaxed);
  }

  const std::string export_name_;
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> reads_{0}, writes_{0}, flushes_{0}, trims_{0}, write_zeroes_{0};
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, errors_{0};
  // Not cumulative here (one increment per write); Snapshot() accumulates.
  std::array<std::atomic<uint64_t>, kNbdLatencyBucketsUs.size() + 1> latency_buckets_{};
  std::atomic<uint64_t> latency_sum_us_{0};
};

// Renders stats in the Prometheus text exposition format, metric names
// prefixed syncblock_nbd_ and labelled export="<name>".
std::string RenderNbdStatsPrometheus(const std::vector<NbdExportStats>& stats);

}  // namespace syncblock::repl
