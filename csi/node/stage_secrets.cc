#include "csi/node/stage_secrets.h"

#include "replication/util/wipe.h"

namespace syncblock::csi {

StageSecrets::~StageSecrets() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, secret] : secrets_) WipeString(secret);
}

void StageSecrets::Keep(const std::string& volume_id, const std::string& secret) {
  absl::MutexLock lock(&mu_);
  std::string& kept = secrets_[volume_id];
  WipeString(kept);
  kept = secret;
}

std::optional<std::string> StageSecrets::Find(const std::string& volume_id) const {
  absl::MutexLock lock(&mu_);
  auto it = secrets_.find(volume_id);
  if (it == secrets_.end()) return std::nullopt;
  return it->second;
}

void StageSecrets::Forget(const std::string& volume_id) {
  absl::MutexLock lock(&mu_);
  auto it = secrets_.find(volume_id);
  if (it == secrets_.end()) return;
  WipeString(it->second);
  secrets_.erase(it);
}

}  // namespace syncblock::csi
