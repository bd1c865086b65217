// Fixture for scripts/check_odr.py (not compiled): names that repeat without
// breaking the ODR, which the check must accept alongside clash_engine.h.
#pragma once

#include <string>

namespace syncblock::repl {

struct SnapshotView;  // a declaration, not a definition

class Engine {
 public:
  struct SnapshotView {  // nested: syncblock::repl::Engine::SnapshotView
    int x = 0;
  };
};

namespace {
struct SnapshotView {  // internal linkage
  int y = 0;
};
}  // namespace

template <>
struct Traits<SnapshotView> {};

}  // namespace syncblock::repl
