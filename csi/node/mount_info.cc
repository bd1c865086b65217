// Parsing of /proc/self/mountinfo (proc(5)).
#include "absl/strings/str_split.h"
#include "csi/node/mounter.h"

namespace syncblock::csi {
namespace {

// The kernel escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out +=
          static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<MountInfoEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountInfoEntry> entries;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    size_t dash = 0;
    for (size_t i = 6; i < fields.size(); ++i) {
      if (fields[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || dash + 2 >= fields.size()) continue;
    MountInfoEntry e;
    e.root = Unescape(fields[3]);
    e.mount_point = Unescape(fields[4]);
    e.options = fields[5];
    e.fstype = fields[dash + 1];
    e.source = Unescape(fields[dash + 2]);
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace syncblock::csi
