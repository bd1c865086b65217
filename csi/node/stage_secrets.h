// The encryption secrets of the volumes staged on this node (NodeStageVolume's
// secret encryptionPassphrase), in memory only and wiped at unstage: what the
// health loop unlocks a volume with when every replica restarted and none
// holds its key any more (replication/doc/encryption.md, "Unlocking").
//
// Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace syncblock::csi {

class StageSecrets {
 public:
  StageSecrets() = default;
  ~StageSecrets();
  StageSecrets(const StageSecrets&) = delete;
  StageSecrets& operator=(const StageSecrets&) = delete;

  // Replaces what was kept for the volume.
  void Keep(const std::string& volume_id, const std::string& secret);
  // A copy: the caller wipes it (WipeString).
  std::optional<std::string> Find(const std::string& volume_id) const;
  void Forget(const std::string& volume_id);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> secrets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::csi
