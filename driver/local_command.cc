#include <cstdio>

#include "driver/commands.h"

namespace syncblock::driver {

int RunLocal(int, char**) {
  std::fputs("syncblock local: not built yet\n", stderr);
  return 2;
}

}  // namespace syncblock::driver
