#include "replication/node/remote_sync_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::repl {
namespace {

// Prometheus label values escape backslash, quote and newline. A remote's
// name is checked where it is declared, but the attribute is read here as
// stored.
std::string LabelValue(const std::string& v) {
  return absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

}  // namespace

std::string RenderRemoteSyncMetrics(const std::vector<RemoteSyncVolume>& primaries,
                                    int64_t now_unix_ms) {
  std::string cycles, shipped, last_bytes, last_failed, rpo, bound, progress, changed;
  for (const auto& v : primaries) {
    auto policy = RemoteSyncPolicyFromAttributes(v.attributes);
    // No declaration, or one the sync cannot run either (its own status
    // says why): nothing to report against.
    if (!policy.ok() || !policy->has_value()) continue;
    const RemoteSyncStatus s = RemoteSyncStatusFromAttributes(v.attributes);
    const std::string l = absl::StrCat("volume=\"", LabelValue(v.volume_id), "\",remote=\"",
                                       LabelValue((*policy)->remote), "\"");
    absl::StrAppend(&cycles, "syncblock_remote_sync_cycles_total{", l, ",result=\"succeeded\"} ",
                    s.cycles_ok, "\n");
    absl::StrAppend(&cycles, "syncblock_remote_sync_cycles_total{", l, ",result=\"failed\"} ",
                    s.cycles_failed, "\n");
    absl::StrAppend(&shipped, "syncblock_remote_sync_bytes_shipped_total{", l, "} ",
                    s.bytes_shipped_total, "\n");
    absl::StrAppend(&last_bytes, "syncblock_remote_sync_last_cycle_bytes{", l, "} ",
                    s.last ? s.last->bytes_shipped : 0, "\n");
    absl::StrAppend(&last_failed, "syncblock_remote_sync_last_cycle_failed{", l, "} ",
                    s.last && !s.last->ok ? 1 : 0, "\n");
    // Before the first snapshot reaches the remote there is no recovery
    // point there at all: no series, rather than a number that would read as
    // one (the bound alone says a sync is declared).
    if (s.newest_remote_point_unix_ms > 0) {
      // Clocks of two nodes may disagree by a little; never a negative age.
      int64_t age_ms = std::max<int64_t>(0, now_unix_ms - s.newest_remote_point_unix_ms);
      absl::StrAppend(&rpo, "syncblock_remote_sync_rpo_seconds{", l, "} ", age_ms / 1000.0, "\n");
    }
    absl::StrAppend(&bound, "syncblock_remote_sync_rpo_bound_seconds{", l, "} ",
                    2 * (*policy)->interval.count(), "\n");
    if (s.progress) {
      absl::StrAppend(&progress, "syncblock_remote_sync_transfer_progress_bytes{", l, "} ",
                      s.progress->bytes_shipped, "\n");
      absl::StrAppend(&changed, "syncblock_remote_sync_transfer_changed_bytes{", l, "} ",
                      s.progress->changed_bytes, "\n");
    }
  }
  std::string out;
  auto section = [&](const char* name, const char* type, const char* help,
                     const std::string& body) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", body);
  };
  section("syncblock_remote_sync_cycles_total", "counter",
          "Remote sync cycles of the volume, by result (primary only).", cycles);
  section("syncblock_remote_sync_bytes_shipped_total", "counter",
          "Bytes of data the volume's remote sync sent to the remote.", shipped);
  section("syncblock_remote_sync_last_cycle_bytes", "gauge",
          "Bytes of data the last remote sync cycle sent (0 before the first).", last_bytes);
  section("syncblock_remote_sync_last_cycle_failed", "gauge",
          "1 when the volume's last remote sync cycle failed.", last_failed);
  section("syncblock_remote_sync_rpo_seconds", "gauge",
          "The recovery point the remote holds: the age of the newest snapshot it holds "
          "complete (absent until the first one is shipped).",
          rpo);
  section("syncblock_remote_sync_rpo_bound_seconds", "gauge",
          "Twice the declared sync interval: a cycle starts every interval, so while cycles "
          "succeed the remote's recovery point is at most about two intervals old.",
          bound);
  section("syncblock_remote_sync_transfer_progress_bytes", "gauge",
          "Bytes the transfer under way (or interrupted, to be resumed) has sent.", progress);
  section("syncblock_remote_sync_transfer_changed_bytes", "gauge",
          "Bytes of changed ranges the transfer under way has to bring over.", changed);
  return out;
}

}  // namespace syncblock::repl
