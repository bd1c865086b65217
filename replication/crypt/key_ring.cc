#include "replication/crypt/key_ring.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"

namespace syncblock::repl {

namespace {

// The volume's cipher is one this node knows.
absl::Status CheckCipher(const std::string& volume_id,
                         const std::map<std::string, std::string>& attributes) {
  auto cipher = attributes.find(kAttrCipher);
  if (cipher == attributes.end() || attributes.count(kAttrWrappedKey) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume_id, " is not encrypted"));
  }
  if (cipher->second != kCipherName) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume_id, " uses cipher ",
                                                      cipher->second, ", this node knows only ",
                                                      kCipherName));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> KeyRing::Unlock(const std::string& volume_id,
                                     const std::map<std::string, std::string>& attributes,
                                     absl::string_view secret) {
  RETURN_IF_ERROR(CheckCipher(volume_id, attributes));
  // The secret is checked even when already unlocked: a wrong one is an
  // error, whatever the state.
  absl::StatusOr<std::string> key =
      UnwrapDataKey(attributes.at(kAttrWrappedKey), secret, volume_id);
  if (!key.ok()) return key.status();
  absl::StatusOr<bool> kept = Keep(volume_id, *key);
  WipeString(*key);
  if (!kept.ok()) {
    return absl::DataLossError(
        absl::StrCat("volume ", volume_id, ": its data key is not an AES-256-XTS key"));
  }
  return kept;
}

absl::StatusOr<bool> KeyRing::Adopt(const std::string& volume_id,
                                    const std::map<std::string, std::string>& attributes,
                                    absl::string_view data_key) {
  RETURN_IF_ERROR(CheckCipher(volume_id, attributes));
  absl::StatusOr<bool> kept = Keep(volume_id, data_key);
  if (!kept.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", volume_id, ": the data key given is not an AES-256-XTS key"));
  }
  return kept;
}

absl::StatusOr<bool> KeyRing::Keep(const std::string& volume_id, absl::string_view data_key) {
  absl::StatusOr<std::unique_ptr<XtsCipher>> c = XtsCipher::Create(data_key);
  if (!c.ok()) return c.status();
  MutexLock l(&mu_);
  if (volumes_.count(volume_id)) return false;
  auto vc = std::make_shared<VolumeCrypt>();
  vc->cipher = std::move(*c);
  volumes_[volume_id] = std::move(vc);
  return true;
}

std::string KeyRing::DataKey(const std::string& volume_id) const {
  std::shared_ptr<VolumeCrypt> vc = Get(volume_id);
  return vc ? vc->cipher->key() : std::string();
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

namespace {
constexpr absl::string_view kLocked = " is encrypted and locked on node ";
}  // namespace

bool IsLockedMessage(absl::string_view message) { return absl::StrContains(message, kLocked); }

std::string LockedMessage(const std::string& volume_id, const std::string& node_id) {
  return absl::StrCat("volume ", volume_id, kLocked, node_id,
                      ": unlock it with its key (ControllerPublishVolume with the CSI secret, or "
                      "ctl volume unlock ",
                      volume_id, " --key-file FILE)");
}

}  // namespace syncblock::repl
