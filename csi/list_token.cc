#include "csi/list_token.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace syncblock::csi {
namespace {

constexpr char kTokenPrefix[] = "sb1-";

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string EncodeListToken(const std::string& last_volume_id) {
  return absl::StrCat(kTokenPrefix, absl::BytesToHexString(last_volume_id));
}

absl::StatusOr<std::string> DecodeListToken(const std::string& token) {
  std::string hex = token.substr(std::min(token.size(), sizeof(kTokenPrefix) - 1));
  if (!absl::StartsWith(token, kTokenPrefix) || hex.empty() || hex.size() % 2 != 0 ||
      !IsLowerHex(hex)) {
    return absl::AbortedError(
        absl::StrCat("starting_token '", token, "' was not returned by this plugin"));
  }
  return absl::HexStringToBytes(hex);
}

absl::StatusOr<Page> PageOf(const std::vector<std::string>& sorted_ids, int32_t max_entries,
                            const std::string& starting_token) {
  if (max_entries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_entries=", max_entries, " must not be negative"));
  }
  Page page;
  if (!starting_token.empty()) {
    auto after = DecodeListToken(starting_token);
    if (!after.ok()) return after.status();
    page.begin = static_cast<size_t>(
        std::upper_bound(sorted_ids.begin(), sorted_ids.end(), *after) - sorted_ids.begin());
  }
  page.end = sorted_ids.size();
  if (max_entries > 0 && page.end - page.begin > static_cast<size_t>(max_entries)) {
    page.end = page.begin + static_cast<size_t>(max_entries);
    page.next_token = EncodeListToken(sorted_ids[page.end - 1]);
  }
  return page;
}

}  // namespace syncblock::csi
