// Shared setup of the replica store's snapshot tests (tests/replication/
// snapshot_chain*_test.cc): a one-member manifest and snapshot records.
//
// Thread-safety: free functions with no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "replication/store/replica_store.h"

namespace syncblock::repl {

inline constexpr uint64_t kRegion = 64 * 1024;

// A volume "vol-1" of `size` bytes whose only member, node-1, is its primary.
inline Manifest MakeManifest(uint64_t size) {
  Manifest m;
  m.volume_id = "vol-1";
  m.size_bytes = size;
  m.primary_node_id = "node-1";
  m.members = {{"node-1", "", "", "", ""}};
  m.data_generation = "g1";
  return m;
}

inline SnapshotRecord Rec(const std::string& name, uint64_t size) {
  SnapshotRecord r;
  r.name = name;
  r.size_bytes = size;
  return r;
}

}  // namespace syncblock::repl
