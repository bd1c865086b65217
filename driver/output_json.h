// The JSON shapes of `syncblock ctl -o json`; scripts and tests depend on
// them, so a field is added, never renamed.
//
//   node list     {"nodes": [{"id","zone","control","replication","nbd","metrics",
//                  "capacity_bytes","available_bytes","replica_count","reachable","error"}]}
//   volume show   {"id","size_bytes","epoch","primary","nbd_uri","attributes",
//                  "replicas": [{"node","state","message","resync": {"bytes_copied",
//                  "bytes_total","rate_bytes_per_second","eta_seconds","full"}}]}
//   volume list   {"volumes": [<volume show>...]}
//   verify        {"volume","identical","region_size","differing_regions": [...],
//                  "unreachable": {NODE: ERROR}}
//   resync-status {"volume","replicas": [{"node","state","bytes_copied","bytes_total",
//                  "rate_bytes_per_second","eta_seconds","full"}]}
//
// Thread-safe: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "replication/client/storage_cluster.h"

namespace syncblock::driver {

nlohmann::json NodesToJson(const std::vector<repl::StorageNodeView>& nodes);
nlohmann::json VolumeToJson(const repl::VolumeView& volume);
nlohmann::json VolumesToJson(const std::vector<repl::VolumeView>& volumes);
nlohmann::json VerifyToJson(const std::string& volume, const repl::VerifyReport& report);
nlohmann::json ResyncStatusToJson(const repl::VolumeView& volume);

}  // namespace syncblock::driver
