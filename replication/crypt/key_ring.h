// The data keys of the encrypted volumes a storage node has been given the
// secret for (UnlockVolume), in memory only: nothing of them reaches the
// disk, so a restarted node holds every encrypted volume locked until it is
// unlocked again (replication/doc/encryption.md, "Unlocking").
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replication/crypt/block_range_lock.h"
#include "replication/crypt/xts_cipher.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

// An unlocked volume: its cipher, and the block locks its primary's
// read-modify-writes take (shared by every NBD connection to the volume).
struct VolumeCrypt {
  std::unique_ptr<XtsCipher> cipher;
  BlockRangeLock locks;
};

class KeyRing {
 public:
  // Unwraps the data key of volume `volume_id`, whose manifest attributes are
  // `attributes`, with `secret` and keeps it. True when it was locked.
  // FAILED_PRECONDITION when the volume is not encrypted; PERMISSION_DENIED
  // for a wrong secret; INVALID_ARGUMENT for an empty one.
  absl::StatusOr<bool> Unlock(const std::string& volume_id,
                              const std::map<std::string, std::string>& attributes,
                              absl::string_view secret);
  // Keeps `data_key`, handed over by the volume's primary, which holds it
  // unlocked (replication/doc/encryption.md, "Unlocking"). True when it was
  // locked. FAILED_PRECONDITION when the volume is not encrypted;
  // INVALID_ARGUMENT when `data_key` is no AES-256-XTS key.
  absl::StatusOr<bool> Adopt(const std::string& volume_id,
                             const std::map<std::string, std::string>& attributes,
                             absl::string_view data_key);
  // The data key of an unlocked volume; empty while locked. The caller wipes
  // its copy (WipeString).
  std::string DataKey(const std::string& volume_id) const;
  // nullptr while locked.
  std::shared_ptr<VolumeCrypt> Get(const std::string& volume_id) const;
  bool Unlocked(const std::string& volume_id) const { return Get(volume_id) != nullptr; }
  // The volume's replica is gone: drops its key.
  void Forget(const std::string& volume_id);

 private:
  // Keeps a cipher made from `data_key` unless one is kept; true when kept.
  absl::StatusOr<bool> Keep(const std::string& volume_id, absl::string_view data_key);

  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<VolumeCrypt>> volumes_ ABSL_GUARDED_BY(mu_);
};

// What a locked encrypted volume's primary answers instead of serving it.
std::string LockedMessage(const std::string& volume_id, const std::string& node_id);
// True when `message` (an NBD client's error) carries LockedMessage's answer.
bool IsLockedMessage(absl::string_view message);

}  // namespace syncblock::repl
