#include <cstdio>

#include "driver/commands.h"

namespace syncblock::driver {

int RunCsi(int, char**) {
  std::fputs("syncblock csi: not built yet\n", stderr);
  return 2;
}

}  // namespace syncblock::driver
