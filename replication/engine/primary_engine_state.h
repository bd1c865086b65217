// The primary engine's per-peer and per-request state, shared by the IO path
// (primary_engine.cc) and the peer threads (primary_engine_peers.cc). All of it
// is guarded by PrimaryEngine::mu_.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "replication/engine/primary_engine.h"

namespace syncblock::repl {

struct PrimaryEngine::Peer {
  MemberInfo member;
  uint32_t slot = 0;  // bit in Pending::acked_slots
  std::unique_ptr<DirtyBitmap> bitmap;
  PeerState state = PeerState::kOffline;
  int fd = -1;           // the live connection, -1 when none
  uint64_t link_id = 0;  // bumped whenever the connection is dropped
  bool removed = false;
  bool accepted = false;  // accepted this primary's hello since the engine started
  std::string generation;
  std::string message;
  uint64_t acked_seq = 0;

  // Frames sent and not yet acknowledged, with the regions they touch: if the
  // connection drops, those regions go to the dirty bitmap.
  struct Inflight {
    uint64_t seq;
    uint64_t first;
    uint64_t last;
    bool has_regions;
  };
  std::deque<Inflight> unacked;

  // The resync under way.
  bool resync_full = false;
  bool force_full = false;  // a full copy was asked for (ctl resync --full)
  bool resync_checksum = false;
  uint64_t resync_total = 0;
  uint64_t resync_copied = 0;
  std::chrono::steady_clock::time_point resync_start;
  uint64_t resync_done_seq = 0;  // seq of the kResyncDone sent, 0 when none
  std::optional<std::string> checksum_reply;

  // Snapshots (primary_engine_snapshots.cc). Cut barriers sent and not yet
  // acknowledged, by sequence number; names of full copies whose
  // kSnapshotDone is not yet acknowledged, in sending order.
  std::map<uint64_t, std::string> snapshot_barriers;
  std::deque<std::string> snapshot_copies_done;
  std::string snapshot_copying;  // the full copy under way, empty when none
  uint64_t snapshot_copied = 0;
  uint64_t snapshot_total = 0;

  std::thread link_thread;
  std::thread resync_thread;
};

struct PrimaryEngine::Pending {
  std::shared_ptr<IoRequest> req;
  uint64_t first_region = 0;
  uint64_t last_region = 0;
  bool has_regions = false;
  uint32_t acked_slots = 0;  // peers that acknowledged while in sync
  bool local_done = false;
  std::chrono::steady_clock::time_point deadline;
};

}  // namespace syncblock::repl
