// Which CSI volume capabilities syncblock volumes support, and their short
// text form kept in volume attributes and publication records.
//
// Supported: block access with every access mode; mount access (ext4, xfs)
// with the single-node modes and MULTI_NODE_READER_ONLY. A filesystem that
// several nodes write would be corrupted, so MULTI_NODE_SINGLE_WRITER and
// MULTI_NODE_MULTI_WRITER are block-only (KubeVirt live migration uses
// MULTI_NODE_MULTI_WRITER block volumes).
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "csi/proto/csi.pb.h"
#include "google/protobuf/repeated_field.h"

namespace syncblock::csi {

using AccessMode = ::csi::v1::VolumeCapability::AccessMode;

// INVALID_ARGUMENT when the capability lacks an access type or access mode,
// or names an unknown mode.
absl::Status CheckWellFormed(const ::csi::v1::VolumeCapability& cap);
// INVALID_ARGUMENT saying why a well-formed capability is not supported.
absl::Status CheckSupported(const ::csi::v1::VolumeCapability& cap);
// Both checks on every capability; INVALID_ARGUMENT too when `caps` is empty.
absl::Status ValidateCapabilities(
    const google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>& caps);

// The fs_type of the first mount capability that names one, else "".
std::string MountFsType(
    const google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>& caps);

bool IsSingleNodeMode(AccessMode::Mode mode);
bool IsReadOnlyMode(AccessMode::Mode mode);
std::string ModeName(AccessMode::Mode mode);
// "block/MULTI_NODE_MULTI_WRITER" or "mount:ext4/SINGLE_NODE_WRITER".
std::string CapabilityText(const ::csi::v1::VolumeCapability& cap);
// The texts of `caps` joined by ','.
std::string SummarizeCapabilities(
    const google::protobuf::RepeatedPtrField<::csi::v1::VolumeCapability>& caps);

}  // namespace syncblock::csi
