// The SnapshotMetadata service's tuples (CSI BlockMetadata) from the storage
// cluster's changed or allocated regions: adjacent regions merge into one
// extent (BlockMetadataType VARIABLE_LENGTH), the last one is clipped to the
// volume's capacity, and a call resuming at `starting_offset` starts at the
// region boundary at or below it (the spec lets a plugin round it down).
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "csi/proto/csi.pb.h"

namespace syncblock::csi {

// `regions`: ascending indexes of `region_size`-byte regions.
std::vector<::csi::v1::BlockMetadata> ExtentsOf(const std::vector<uint64_t>& regions,
                                                uint64_t region_size, int64_t capacity,
                                                int64_t starting_offset);

}  // namespace syncblock::csi
