// Fixture for scripts/check_odr.py (not compiled): the engine half of the
// SnapshotView clash that once linked into one binary.
#pragma once

#include <cstdint>
#include <string>

namespace syncblock::repl {

struct SnapshotView {
  std::string name;
  uint64_t seq = 0;
};

}  // namespace syncblock::repl
