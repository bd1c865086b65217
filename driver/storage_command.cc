#include <cstdio>

#include "driver/commands.h"

namespace syncblock::driver {

int RunStorage(int, char**) {
  std::fputs("syncblock storage: not built yet\n", stderr);
  return 2;
}

}  // namespace syncblock::driver
