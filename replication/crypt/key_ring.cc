#include "replication/crypt/key_ring.h"

#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"

namespace syncblock::repl {

absl::StatusOr<bool> KeyRing::Unlock(const std::string& volume_id,
                                     const std::map<std::string, std::string>& attributes,
                                     absl::string_view secret) {
  auto cipher = attributes.find(kAttrCipher);
  auto wrapped = attributes.find(kAttrWrappedKey);
  if (cipher == attributes.end() || wrapped == attributes.end()) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume_id, " is not encrypted"));
  }
  if (cipher->second != kCipherName) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume_id, " uses cipher ",
                                                      cipher->second, ", this node knows only ",
                                                      kCipherName));
  }
  // The secret is checked even when already unlocked: a wrong one is an
  // error, whatever the state.
  absl::StatusOr<std::string> key = UnwrapDataKey(wrapped->second, secret, volume_id);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::unique_ptr<XtsCipher>> c = XtsCipher::Create(*key);
  WipeString(*key);
  if (!c.ok()) {
    return absl::DataLossError(
        absl::StrCat("volume ", volume_id, ": its data key is not an AES-256-XTS key"));
  }
  MutexLock l(&mu_);
  if (volumes_.count(volume_id)) return false;
  auto vc = std::make_shared<VolumeCrypt>();
  vc->cipher = std::move(*c);
  volumes_[volume_id] = std::move(vc);
  return true;
}

std::shared_ptr<VolumeCrypt> KeyRing::Get(const std::string& volume_id) const {
  MutexLock l(&mu_);
  auto it = volumes_.find(volume_id);
  return it == volumes_.end() ? nullptr : it->second;
}

void KeyRing::Forget(const std::string& volume_id) {
  MutexLock l(&mu_);
  volumes_.erase(volume_id);
}

std::string LockedMessage(const std::string& volume_id, const std::string& node_id) {
  return absl::StrCat("volume ", volume_id, " is encrypted and locked on node ", node_id,
                      ": unlock it with its key (ControllerPublishVolume with the CSI secret, or "
                      "ctl volume unlock ",
                      volume_id, " --key-file FILE)");
}

}  // namespace syncblock::repl
