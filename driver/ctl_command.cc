#include <cstdio>

#include "driver/commands.h"

namespace syncblock::driver {

int RunCtl(int, char**) {
  std::fputs("syncblock ctl: not built yet\n", stderr);
  return 2;
}

}  // namespace syncblock::driver
