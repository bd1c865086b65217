// Where a volume is controller-published, and whether one more publication is
// allowed. Each publication is a volume attribute "csi.pub.<node id>" whose
// value is "<rw|ro>,<block|mount>,<ACCESS_MODE>", stored in every replica's
// manifest, so the controller needs no state of its own.
//
// Rules (CSI spec, ControllerPublishVolume errors):
// - the same node again with the same access type, mode and readonly flag is
//   idempotent; with anything different it is ALREADY_EXISTS;
// - a single-node access mode (on either side) refuses a second node with
//   FAILED_PRECONDITION;
// - MULTI_NODE_SINGLE_WRITER allows one read-write publication; several
//   writers need every writer to be MULTI_NODE_MULTI_WRITER block access.
//
// Thread-safe: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "csi/volume_capabilities.h"

namespace syncblock::csi {

struct Publication {
  std::string node_id;
  bool block = false;
  AccessMode::Mode mode = AccessMode::UNKNOWN;
  bool readonly = false;

  bool operator==(const Publication&) const = default;
};

std::string PublicationKey(const std::string& node_id);
std::string EncodePublication(const Publication& p);
// INVALID_ARGUMENT for a value not made by EncodePublication.
absl::StatusOr<Publication> DecodePublication(const std::string& node_id, const std::string& value);

// Every publication recorded in a volume's attributes, by node id. Records
// that do not parse are skipped (they were not written by us).
std::vector<Publication> PublicationsFromAttributes(
    const std::map<std::string, std::string>& attributes);

enum class PublishDecision { kNew, kAlreadyPublished };

// Whether `wanted` may join `existing` (see the rules above).
absl::StatusOr<PublishDecision> CheckPublish(const std::vector<Publication>& existing,
                                             const Publication& wanted,
                                             const std::string& volume_id);

}  // namespace syncblock::csi
