// How `syncblock ctl snapshot ...` prints snapshots and diffs: JSON documents
// (-o json) and human tables. Pure functions, tested without a cluster.
//
// Thread-safe: no state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "driver/human_format.h"
#include "driver/terminal.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::driver {

// A byte range of the volume: changed regions that touch are joined.
struct ByteExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
};
std::vector<ByteExtent> RegionsToExtents(const repl::SnapshotDiffView& diff);

// "2026-11-22T02:42:54.123Z"
std::string FormatUnixMs(int64_t unix_ms);

// {"id","volume","name","size_bytes","creation_time","ready_to_use",
//  "replicas":[{"node","state"}]} (copying replicas add bytes_copied/_total).
nlohmann::json SnapshotToJson(const repl::ClusterSnapshotView& s);
nlohmann::json SnapshotsToJson(const std::vector<repl::ClusterSnapshotView>& snapshots);
// {"from","to","region_size","changed_regions","exact","changed_bytes","extents"}
nlohmann::json DiffToJson(const std::string& from, const std::string& to,
                          const repl::SnapshotDiffView& diff);

// Creation times show how long ago they were, as of `now_unix_ms`.
std::string RenderSnapshot(const repl::ClusterSnapshotView& s, int64_t now_unix_ms = NowUnixMs(),
                           const TermStyle& style = {});
std::string RenderSnapshots(const std::vector<repl::ClusterSnapshotView>& snapshots,
                            int64_t now_unix_ms = NowUnixMs(), const TermStyle& style = {});
std::string RenderDiff(const std::string& from, const std::string& to,
                       const repl::SnapshotDiffView& diff);

}  // namespace syncblock::driver
