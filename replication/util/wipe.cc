#include "replication/util/wipe.h"

#include <string.h>

namespace syncblock {

void WipeString(std::string& s) {
  // The whole capacity: a string shortened earlier keeps old bytes past size().
  s.resize(s.capacity());
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

}  // namespace syncblock
