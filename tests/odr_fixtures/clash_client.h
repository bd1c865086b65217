// Fixture for scripts/check_odr.py (not compiled): the client half of the
// clash, with another layout under the same name in the same namespace.
#pragma once

#include <string>
#include <vector>

namespace syncblock {
namespace repl {

struct SnapshotView {
  std::string id;
  std::vector<std::string> replicas;
};

}  // namespace repl
}  // namespace syncblock
