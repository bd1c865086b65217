// ListVolumes and ListSnapshots pagination. A token names the last volume
// (or snapshot) ID of the previous page ("sb1-" + the ID in hex), and the next
// page starts after it in ID order: entries created or deleted between pages
// shift nothing, and a token whose entry was deleted since still works. A
// token we did not make is ABORTED, as the spec asks.
//
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::csi {

std::string EncodeListToken(const std::string& last_volume_id);
// ABORTED for a token not made by EncodeListToken.
absl::StatusOr<std::string> DecodeListToken(const std::string& token);

struct Page {
  size_t begin = 0;        // index into the sorted IDs
  size_t end = 0;          // one past the last entry
  std::string next_token;  // empty on the last page
};

// The page of `sorted_ids` (ascending, unique) for a request. INVALID_ARGUMENT
// for a negative max_entries (0 = no limit), ABORTED for a bad token.
absl::StatusOr<Page> PageOf(const std::vector<std::string>& sorted_ids, int32_t max_entries,
                            const std::string& starting_token);

}  // namespace syncblock::csi
