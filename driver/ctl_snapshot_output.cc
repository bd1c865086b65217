#include "driver/ctl_snapshot_output.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "driver/flags.h"
#include "driver/output_table.h"

namespace syncblock::driver {

using nlohmann::json;

namespace {

std::string ReplicaStates(const repl::ClusterSnapshotView& s) {
  std::string out;
  for (const auto& r : s.replicas) {
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, r.node, "=", r.state);
    if (r.state == "copying" && r.bytes_total > 0) {
      absl::StrAppend(&out, "(", r.bytes_copied * 100 / r.bytes_total, "%)");
    }
  }
  return out;
}

std::string Target(const std::string& to) { return to.empty() ? "live" : to; }

}  // namespace

std::vector<ByteExtent> RegionsToExtents(const repl::SnapshotDiffView& diff) {
  std::vector<ByteExtent> out;
  for (uint64_t r : diff.changed_regions) {
    const uint64_t offset = r * diff.region_size;
    if (!out.empty() && out.back().offset + out.back().length == offset) {
      out.back().length += diff.region_size;
    } else {
      out.push_back({offset, diff.region_size});
    }
  }
  return out;
}

std::string FormatUnixMs(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrFormat("%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
}

json SnapshotToJson(const repl::ClusterSnapshotView& s) {
  json replicas = json::array();
  for (const auto& r : s.replicas) {
    json j = {{"node", r.node}, {"state", r.state}};
    if (r.state == "copying") {
      j["bytes_copied"] = r.bytes_copied;
      j["bytes_total"] = r.bytes_total;
    }
    replicas.push_back(std::move(j));
  }
  return {{"id", s.id},
          {"volume", s.volume_id},
          {"name", s.name},
          {"size_bytes", s.size_bytes},
          {"creation_time", FormatUnixMs(s.creation_time_unix_ms)},
          {"ready_to_use", s.ready_to_use},
          {"replicas", replicas}};
}

json SnapshotsToJson(const std::vector<repl::ClusterSnapshotView>& snapshots) {
  json out = json::array();
  for (const auto& s : snapshots) out.push_back(SnapshotToJson(s));
  return out;
}

json DiffToJson(const std::string& from, const std::string& to,
                const repl::SnapshotDiffView& diff) {
  json extents = json::array();
  uint64_t bytes = 0;
  for (const auto& e : RegionsToExtents(diff)) {
    extents.push_back({{"offset", e.offset}, {"length", e.length}});
    bytes += e.length;
  }
  return {{"from", from},
          {"to", Target(to)},
          {"region_size", diff.region_size},
          {"changed_regions", diff.changed_regions},
          {"exact", diff.exact},
          {"changed_bytes", bytes},
          {"extents", extents}};
}

std::string RenderSnapshot(const repl::ClusterSnapshotView& s, int64_t now_unix_ms,
                           const TermStyle& style) {
  std::string out;
  absl::StrAppend(&out, "snapshot:      ", s.id, "\n");
  absl::StrAppend(&out, "volume:        ", s.volume_id, "\n");
  absl::StrAppend(&out, "size:          ", FormatSize(s.size_bytes), " (", s.size_bytes,
                  " bytes)\n");
  absl::StrAppend(&out, "created:       ", FormatUnixMs(s.creation_time_unix_ms), " (",
                  FormatAgo(s.creation_time_unix_ms, now_unix_ms), ")\n");
  absl::StrAppend(&out, "ready to use:  ", s.ready_to_use ? "yes" : "no", "\n");
  Table t({"NODE", "STATE", "COPIED", "TOTAL"});
  t.Painted("STATE", StateColor);
  for (const auto& r : s.replicas) {
    bool copying = r.state == "copying";
    t.AddRow({r.node, r.state, copying ? FormatSize(r.bytes_copied) : "",
              copying ? FormatSize(r.bytes_total) : ""});
  }
  absl::StrAppend(&out, "\n", t.Render(style));
  return out;
}

std::string RenderSnapshots(const std::vector<repl::ClusterSnapshotView>& snapshots,
                            int64_t now_unix_ms, const TermStyle& style) {
  Table t({"SNAPSHOT", "SIZE", "CREATED", "READY", "REPLICAS"});
  t.Flexible("SNAPSHOT").Flexible("REPLICAS");
  for (const auto& s : snapshots) {
    t.AddRow({s.id, FormatSize(s.size_bytes), FormatAgo(s.creation_time_unix_ms, now_unix_ms),
              s.ready_to_use ? "yes" : "no", ReplicaStates(s)});
  }
  return t.Render(style);
}

std::string RenderDiff(const std::string& from, const std::string& to,
                       const repl::SnapshotDiffView& diff) {
  auto extents = RegionsToExtents(diff);
  uint64_t bytes = 0;
  for (const auto& e : extents) bytes += e.length;
  std::string out = absl::StrCat(from, " -> ", Target(to), ": ", diff.changed_regions.size(),
                                 " regions changed (", FormatSize(bytes), ", region size ",
                                 FormatSize(diff.region_size), ", ",
                                 diff.exact ? "exact" : "by checksums", ")\n");
  if (extents.empty() || diff.region_size == 0) return out;
  Table t({"OFFSET", "LENGTH", "REGIONS"});
  for (const auto& e : extents) {
    const uint64_t first = e.offset / diff.region_size;
    const uint64_t last = first + e.length / diff.region_size - 1;
    t.AddRow({absl::StrCat(e.offset), absl::StrCat(e.length),
              first == last ? absl::StrCat(first) : absl::StrCat(first, "-", last)});
  }
  absl::StrAppend(&out, "\n", t.Render());
  return out;
}

}  // namespace syncblock::driver
