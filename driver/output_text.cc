#include "driver/output_text.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "driver/flags.h"
#include "driver/human_format.h"
#include "driver/output_table.h"
#include "replication/crypt/key_wrap.h"
#include "replication/qos/qos_settings.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::driver {

namespace {

size_t InSync(const repl::VolumeView& v) {
  size_t n = 0;
  for (const auto& r : v.replicas) n += r.state == "in_sync";
  return n;
}

std::string Health(const repl::VolumeView& v) {
  if (v.nbd_uri.empty()) return "unavailable";
  return InSync(v) == v.replicas.size() ? "healthy" : "degraded";
}

Color Painter(const std::string& state) { return StateColor(state); }

// The volume's remote sync in one line, or its role as a sync's target; ""
// for neither.
std::string RemoteSyncLine(const repl::VolumeView& v, int64_t now_ms) {
  auto source = v.attributes.find(repl::kAttrRemoteSourceVolume);
  if (v.attributes.count(repl::kAttrRemoteSourceId) != 0) {
    return absl::StrCat("Remote:   target of the sync of ",
                        source == v.attributes.end() ? "?" : source->second,
                        " (ctl volume promote-remote makes it writable)\n");
  }
  auto policy = repl::RemoteSyncPolicyFromAttributes(v.attributes);
  if (!policy.ok()) return absl::StrCat("Remote:   ", policy.status().message(), "\n");
  if (!policy->has_value()) return "";
  const auto& p = **policy;
  const repl::RemoteSyncStatus st = repl::RemoteSyncStatusFromAttributes(v.attributes);
  std::string out =
      absl::StrCat("Remote:   syncs to ", p.target, " on remote ", p.remote, " every ",
                   FormatDuration(static_cast<double>(p.interval.count())), "; ");
  if (st.newest_remote_point_unix_ms > 0) {
    absl::StrAppend(&out, "newest there ", st.newest_remote_snapshot, " (",
                    FormatAgo(st.newest_remote_point_unix_ms, now_ms), ")");
  } else {
    absl::StrAppend(&out, "nothing there yet");
  }
  if (st.last && !st.last->ok) absl::StrAppend(&out, "; last cycle FAILED: ", st.last->error);
  return out + "\n";
}

}  // namespace

std::string FormatProgress(const repl::ReplicaView& r) {
  if (r.bytes_total == 0) return "-";
  double pct = 100.0 * static_cast<double>(r.bytes_copied) / static_cast<double>(r.bytes_total);
  std::string out = absl::StrFormat("%s / %s (%.0f%%)", FormatSize(r.bytes_copied),
                                    FormatSize(r.bytes_total), pct);
  if (r.state == "resyncing") {
    absl::StrAppend(&out, ", ", FormatRate(r.rate_bytes_per_second), ", ETA ",
                    FormatDuration(r.eta_seconds));
  }
  if (r.full_copy) absl::StrAppend(&out, ", full copy");
  return out;
}

std::string FormatLag(const repl::LagView& lag, int64_t now_ms) {
  if (!lag.known) return "lag unknown (no primary answers)";
  if (lag.broken && lag.reported_unix_ms > 0) {
    return absl::StrCat("RPO broken since ", FormatAgo(lag.broken_since_unix_ms, now_ms),
                        " as its primary last reported ", FormatAgo(lag.reported_unix_ms, now_ms));
  }
  if (lag.broken) {
    return absl::StrCat("RPO broken since ", FormatAgo(lag.broken_since_unix_ms, now_ms), ", ",
                        FormatSize(lag.bytes), " to catch up");
  }
  std::string out = absl::StrCat("lag ", lag.ms, " ms, ", FormatSize(lag.bytes));
  if (lag.throttled_writes > 0) {
    absl::StrAppend(&out, " (", lag.throttled_writes, " writes throttled)");
  }
  if (lag.reported_unix_ms > 0) {
    absl::StrAppend(&out, " as its primary last reported ",
                    FormatAgo(lag.reported_unix_ms, now_ms));
  }
  return out;
}

std::string RenderNodes(const std::vector<repl::StorageNodeView>& nodes, const TermStyle& style) {
  Table t({"ID", "ZONE", "CONTROL", "NBD", "CAPACITY", "AVAILABLE", "REPLICAS", "STATUS"});
  t.Optional("NBD").Optional("ZONE").Flexible("STATUS").Painted("STATUS", Painter);
  for (const auto& n : nodes) {
    if (!n.reachable) {
      t.AddRow({n.id.empty() ? "?" : n.id, "", n.control_address, "", "", "", "",
                absl::StrCat("unreachable: ", n.error)});
      continue;
    }
    t.AddRow({n.id, n.zone, n.control_address, n.nbd_address, FormatSize(n.capacity_bytes),
              FormatSize(n.available_bytes), absl::StrCat(n.replica_count), "ready"});
  }
  return t.Render(style);
}

std::string RenderVolume(const repl::VolumeView& v, const TermStyle& style) {
  std::string out;
  absl::StrAppend(&out, "Volume:   ", v.id, "\n");
  absl::StrAppend(&out, "Size:     ", FormatSize(v.size_bytes), " (", v.size_bytes, " bytes)\n");
  absl::StrAppend(&out, "Epoch:    ", v.epoch, "\n");
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  absl::StrAppend(&out, "Primary:  ", v.primary,
                  v.primary_since_unix_ms > 0
                      ? absl::StrCat(" (since ", FormatAgo(v.primary_since_unix_ms, now_ms), ")")
                      : "",
                  "\n");
  if (v.last_failover_unix_ms > 0) {
    absl::StrAppend(&out, "Moved:    ", FormatAgo(v.last_failover_unix_ms, now_ms), " from ",
                    v.last_failover_from.empty() ? "?" : v.last_failover_from, ": ",
                    v.last_failover_reason, "\n");
  }
  absl::StrAppend(&out, "NBD:      ", v.nbd_uri.empty() ? "(no primary serving)" : v.nbd_uri, "\n");
  absl::StrAppend(&out, "State:    ", Paint(style, StateColor(Health(v)), Health(v)), " (",
                  InSync(v), "/", v.replicas.size(), " replicas in sync)\n");
  if (v.attributes.count(repl::kAttrQosMaxIops) || v.attributes.count(repl::kAttrQosMaxBandwidth)) {
    repl::QosSettings q = repl::QosFromAttributes(v.attributes);
    absl::StrAppend(&out, "QoS:      ", repl::DescribeIops(q.max_iops), ", ",
                    repl::DescribeBandwidth(q.max_bandwidth), ", burst ",
                    repl::FormatBurst(q.burst_seconds), " s (enforced by the primary)\n");
  }
  if (v.encrypted) {
    // Never a key: only whether the replicas hold the data key in memory.
    auto cipher = v.attributes.find(repl::kAttrCipher);
    absl::StrAppend(
        &out, "Crypt:    encrypted (", cipher == v.attributes.end() ? "?" : cipher->second, "), ",
        v.locked_on.empty() ? "unlocked"
                            : absl::StrCat("locked on ", absl::StrJoin(v.locked_on, ",")),
        "\n");
  } else {
    absl::StrAppend(&out, "Crypt:    not encrypted\n");
  }
  absl::StrAppend(&out, RemoteSyncLine(v, now_ms));
  std::map<std::string, std::string> shown = repl::DisplayedAttributes(v.attributes);
  // Shown by the Remote line (and whole in -o json).
  shown.erase(repl::kAttrRemoteStatus);
  shown.erase(repl::kAttrRemoteLease);
  if (!shown.empty()) {
    std::vector<std::string> attrs;
    for (const auto& [k, val] : shown) attrs.push_back(absl::StrCat(k, "=", val));
    absl::StrAppend(&out, "Attrs:    ", absl::StrJoin(attrs, ", "), "\n");
  }
  absl::StrAppend(&out, "\n");
  Table t({"NODE", "ROLE", "STATE", "RESYNC", "MESSAGE"});
  t.Flexible("MESSAGE").Flexible("RESYNC").Painted("STATE", Painter);
  for (const auto& r : v.replicas) {
    std::string message = r.message;
    if (r.async) {
      message = message.empty() ? FormatLag(r.lag, now_ms)
                                : absl::StrCat(FormatLag(r.lag, now_ms), "; ", message);
    }
    t.AddRow({r.node, r.node == v.primary ? "primary" : (r.async ? "async" : "secondary"), r.state,
              FormatProgress(r), message});
  }
  if (v.witness) {
    std::string record = v.witness_outdated.empty()
                             ? "no data; votes"
                             : absl::StrCat("no data; records as outdated: ",
                                            absl::StrJoin(v.witness_outdated, ","));
    if (!v.witness->message.empty()) absl::StrAppend(&record, "; ", v.witness->message);
    t.AddRow({v.witness->node, "witness", v.witness->state, "", record});
  }
  absl::StrAppend(&out, t.Render(style));
  return out;
}

std::string RenderVolumes(const std::vector<repl::VolumeView>& volumes, const TermStyle& style) {
  Table t({"ID", "SIZE", "REPLICAS", "PRIMARY", "EPOCH", "STATE"});
  t.Flexible("ID").Painted("STATE", Painter);
  for (const auto& v : volumes) {
    t.AddRow({v.id, FormatSize(v.size_bytes), absl::StrCat(InSync(v), "/", v.replicas.size()),
              v.primary, absl::StrCat(v.epoch), Health(v)});
  }
  return t.Render(style);
}

std::string RenderVerify(const std::string& volume, const repl::VerifyReport& report,
                         const TermStyle& style) {
  std::string out;
  if (report.identical) {
    absl::StrAppend(&out, "volume ", volume, ": replicas ",
                    Paint(style, Color::kGreen, "identical"), " (region size ",
                    FormatSize(report.region_size), ")\n");
    return out;
  }
  if (!report.differing_regions.empty()) {
    std::vector<uint64_t> shown(
        report.differing_regions.begin(),
        report.differing_regions.begin() + std::min<size_t>(report.differing_regions.size(), 32));
    absl::StrAppend(
        &out, "volume ", volume, ": ",
        Paint(style, Color::kRed, absl::StrCat(report.differing_regions.size(), " regions differ")),
        " (region size ", FormatSize(report.region_size), "): ", absl::StrJoin(shown, ","),
        shown.size() < report.differing_regions.size() ? ",..." : "", "\n");
  }
  for (const auto& [node, error] : report.unreachable) {
    absl::StrAppend(&out, "volume ", volume, ": replica on ", node, " not checked: ", error, "\n");
  }
  return out;
}

std::string RenderResyncStatus(const repl::VolumeView& v, const TermStyle& style) {
  Table t({"NODE", "STATE", "COPIED", "TOTAL", "PROGRESS", "RATE", "ETA"});
  t.Flexible("NODE").Painted("STATE", Painter);
  for (const auto& r : v.replicas) {
    bool any = r.bytes_total > 0;
    t.AddRow({r.node, r.state, any ? FormatSize(r.bytes_copied) : "-",
              any ? FormatSize(r.bytes_total) : "-",
              any ? absl::StrFormat("%.0f%%", 100.0 * static_cast<double>(r.bytes_copied) /
                                                  static_cast<double>(r.bytes_total))
                  : "-",
              r.state == "resyncing" ? FormatRate(r.rate_bytes_per_second) : "-",
              r.state == "resyncing" ? FormatDuration(r.eta_seconds) : "-"});
  }
  return absl::StrCat("volume ", v.id, " (primary ", v.primary, ")\n", t.Render(style));
}

}  // namespace syncblock::driver
