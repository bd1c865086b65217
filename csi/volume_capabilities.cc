#include "csi/volume_capabilities.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace syncblock::csi {

using ::csi::v1::VolumeCapability;

absl::Status CheckWellFormed(const VolumeCapability& cap) {
  if (cap.access_type_case() == VolumeCapability::ACCESS_TYPE_NOT_SET) {
    return absl::InvalidArgumentError("volume capability has neither block nor mount access type");
  }
  if (!cap.has_access_mode()) {
    return absl::InvalidArgumentError("volume capability has no access_mode");
  }
  AccessMode::Mode mode = cap.access_mode().mode();
  if (mode == AccessMode::UNKNOWN || !AccessMode::Mode_IsValid(mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume capability access mode ", static_cast<int>(mode), " is not valid"));
  }
  return absl::OkStatus();
}

absl::Status CheckSupported(const VolumeCapability& cap) {
  if (cap.has_block()) return absl::OkStatus();
  const std::string& fs = cap.mount().fs_type();
  if (!fs.empty() && fs != "ext4" && fs != "xfs") {
    return absl::InvalidArgumentError(
        absl::StrCat("fs_type '", fs, "' is not supported: use ext4 or xfs"));
  }
  AccessMode::Mode mode = cap.access_mode().mode();
  if (mode == AccessMode::MULTI_NODE_MULTI_WRITER || mode == AccessMode::MULTI_NODE_SINGLE_WRITER) {
    return absl::InvalidArgumentError(
        absl::StrCat(ModeName(mode),
                     " is supported for block volumes only: a filesystem written from "
                     "several nodes would be corrupted"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCapabilities(
    const google::protobuf::RepeatedPtrField<VolumeCapability>& caps) {
  if (caps.empty()) return absl::InvalidArgumentError("volume_capabilities are required");
  for (const auto& cap : caps) {
    if (auto s = CheckWellFormed(cap); !s.ok()) return s;
    if (auto s = CheckSupported(cap); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string MountFsType(const google::protobuf::RepeatedPtrField<VolumeCapability>& caps) {
  for (const auto& cap : caps) {
    if (cap.has_mount() && !cap.mount().fs_type().empty()) return cap.mount().fs_type();
  }
  return "";
}

bool IsSingleNodeMode(AccessMode::Mode mode) {
  return mode == AccessMode::SINGLE_NODE_WRITER || mode == AccessMode::SINGLE_NODE_READER_ONLY ||
         mode == AccessMode::SINGLE_NODE_SINGLE_WRITER ||
         mode == AccessMode::SINGLE_NODE_MULTI_WRITER;
}

bool IsReadOnlyMode(AccessMode::Mode mode) {
  return mode == AccessMode::SINGLE_NODE_READER_ONLY || mode == AccessMode::MULTI_NODE_READER_ONLY;
}

std::string ModeName(AccessMode::Mode mode) {
  if (!AccessMode::Mode_IsValid(mode)) return absl::StrCat("MODE_", static_cast<int>(mode));
  return AccessMode::Mode_Name(mode);
}

std::string CapabilityText(const VolumeCapability& cap) {
  std::string type = "none";
  if (cap.has_block()) {
    type = "block";
  } else if (cap.has_mount()) {
    type = cap.mount().fs_type().empty() ? "mount" : absl::StrCat("mount:", cap.mount().fs_type());
  }
  return absl::StrCat(type, "/", ModeName(cap.access_mode().mode()));
}

std::string SummarizeCapabilities(
    const google::protobuf::RepeatedPtrField<VolumeCapability>& caps) {
  return absl::StrJoin(caps, ",", [](std::string* out, const VolumeCapability& cap) {
    out->append(CapabilityText(cap));
  });
}

}  // namespace syncblock::csi
