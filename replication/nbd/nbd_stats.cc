#include "replication/nbd/nbd_stats.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace syncblock::repl {

void NbdExportCounters::Write(uint64_t bytes, uint64_t latency_us) {
  Add(writes_, bytes_written_, bytes);
  size_t bucket =
      std::lower_bound(kNbdLatencyBucketsUs.begin(), kNbdLatencyBucketsUs.end(), latency_us) -
      kNbdLatencyBucketsUs.begin();
  latency_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(latency_us, std::memory_order_relaxed);
}

NbdExportStats NbdExportCounters::Snapshot() const {
  NbdExportStats s;
  s.export_name = export_name_;
  s.connections = connections_.load(std::memory_order_relaxed);
  s.reads = reads_.load(std::memory_order_relaxed);
  s.writes = writes_.load(std::memory_order_relaxed);
  s.flushes = flushes_.load(std::memory_order_relaxed);
  s.trims = trims_.load(std::memory_order_relaxed);
  s.write_zeroes = write_zeroes_.load(std::memory_order_relaxed);
  s.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_buckets_.size(); ++i) {
    cumulative += latency_buckets_[i].load(std::memory_order_relaxed);
    s.write_latency_buckets[i] = cumulative;
  }
  s.write_latency_count = cumulative;
  s.write_latency_sum_us = latency_sum_us_.load(std::memory_order_relaxed);
  return s;
}

namespace {

std::string Label(const std::string& export_name) {
  // Prometheus label values escape backslash, quote and newline.
  return absl::StrCat(
      "export=\"",
      absl::StrReplaceAll(export_name, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}), "\"");
}

void Counter(std::string& out, const char* name, const char* help,
             const std::vector<NbdExportStats>& stats, uint64_t NbdExportStats::*field,
             const char* type = "counter") {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  for (const NbdExportStats& s : stats) {
    absl::StrAppend(&out, name, "{", Label(s.export_name), "} ", s.*field, "\n");
  }
}

}  // namespace

std::string RenderNbdStatsPrometheus(const std::vector<NbdExportStats>& stats) {
  std::string out;
  Counter(out, "syncblock_nbd_connections", "Open NBD connections.", stats,
          &NbdExportStats::connections, "gauge");
  Counter(out, "syncblock_nbd_reads_total", "NBD READ commands.", stats, &NbdExportStats::reads);
  Counter(out, "syncblock_nbd_writes_total", "NBD WRITE commands.", stats, &NbdExportStats::writes);
  Counter(out, "syncblock_nbd_flushes_total", "NBD FLUSH commands.", stats,
          &NbdExportStats::flushes);
  Counter(out, "syncblock_nbd_trims_total", "NBD TRIM commands.", stats, &NbdExportStats::trims);
  Counter(out, "syncblock_nbd_write_zeroes_total", "NBD WRITE_ZEROES commands.", stats,
          &NbdExportStats::write_zeroes);
  Counter(out, "syncblock_nbd_read_bytes_total", "Bytes read through NBD.", stats,
          &NbdExportStats::bytes_read);
  Counter(out, "syncblock_nbd_written_bytes_total", "Bytes written through NBD.", stats,
          &NbdExportStats::bytes_written);
  Counter(out, "syncblock_nbd_errors_total", "NBD requests answered with an error.", stats,
          &NbdExportStats::errors);
  const char* h = "syncblock_nbd_write_latency_seconds";
  absl::StrAppend(&out, "# HELP ", h, " NBD WRITE latency, request to device completion.\n",
                  "# TYPE ", h, " histogram\n");
  for (const NbdExportStats& s : stats) {
    std::string label = Label(s.export_name);
    for (size_t i = 0; i < kNbdLatencyBucketsUs.size(); ++i) {
      absl::StrAppend(&out, h, "_bucket{", label, ",le=\"",
                      static_cast<double>(kNbdLatencyBucketsUs[i]) / 1e6, "\"} ",
                      s.write_latency_buckets[i], "\n");
    }
    absl::StrAppend(&out, h, "_bucket{", label, ",le=\"+Inf\"} ", s.write_latency_count, "\n");
    absl::StrAppend(&out, h, "_sum{", label, "} ",
                    static_cast<double>(s.write_latency_sum_us) / 1e6, "\n");
    absl::StrAppend(&out, h, "_count{", label, "} ", s.write_latency_count, "\n");
  }
  return out;
}

}  // namespace syncblock::repl
