// Automatic failover (DESIGN.md rule 7; replication/doc/failover.md): each
// storage node watches the volumes it holds a secondary replica of. When a
// replica's promise to its primary has run out (no frame of the primary for a
// lease), the node asks the other members how they stand. If a majority,
// itself included, no longer hears the primary and none serves the volume,
// the most up-to-date consistent one among them (highest applied sequence,
// then the smallest node id) promotes itself to epoch+1 (promotion.h, not
// planned: every replica accepts only once its own promise has run out).
// The others, seeing it is not them, wait: the chosen one does the same
// arithmetic on the same answers.
//
// Thread-safe. One thread, started by Start(), stopped by Stop().
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "replication/node/storage_node.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

struct ElectorOptions {
  // Between two looks at the node's volumes, give or take a quarter (so that
  // two nodes seldom look at the same moment).
  std::chrono::milliseconds interval{200};
  // For the questions to the other members; a frozen node costs this long.
  std::chrono::milliseconds probe_timeout{500};
  // For the promotion's own calls.
  std::chrono::milliseconds promote_timeout{2000};
};

class Elector {
 public:
  Elector(StorageNode& node, ElectorOptions opts);
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  void Start();
  void Stop();

  // Volumes this node became primary of by election, and elections it tried
  // that did not succeed.
  uint64_t won() const { return won_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Loop();
  // Considers one replica: elects this node if it should.
  void Consider(const std::shared_ptr<Replica>& replica);

  using Clock = std::chrono::steady_clock;

  StorageNode& node_;
  const ElectorOptions opts_;
  // Volumes whose primary answers but does not serve yet, since when; only
  // the elector's thread uses it.
  std::map<std::string, Clock::time_point> starting_since_;
  std::atomic<uint64_t> won_{0};
  std::atomic<uint64_t> failed_{0};
  Mutex mu_;
  CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace syncblock::repl
