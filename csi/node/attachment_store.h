// The node plugin's record of its attachments: one JSON file per volume in the
// state directory (`<state_dir>/attachments/<volume>.json`), written
// atomically (temp file, fsync, rename), so a plugin that restarts, or crashes
// mid-call, finds every device and mount it made.
//
// Thread-safe for different volumes; the caller serialises one volume.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "csi/node/attacher.h"

namespace syncblock::csi {

class AttachmentStore {
 public:
  explicit AttachmentStore(std::string state_dir);

  absl::Status Init();  // creates the directory
  absl::Status Save(const Attachment& attachment);
  // NOT_FOUND when no record exists.
  absl::StatusOr<Attachment> Load(const std::string& volume_id) const;
  absl::Status Remove(const std::string& volume_id);
  // Every readable record; unreadable ones are logged and skipped.
  std::vector<Attachment> LoadAll() const;

  // JSON form, exposed for tests.
  static std::string ToJson(const Attachment& attachment);
  static absl::StatusOr<Attachment> FromJson(const std::string& text);

 private:
  std::string PathFor(const std::string& volume_id) const;
  std::string dir_;
};

}  // namespace syncblock::csi
