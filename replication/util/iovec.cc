#include "replication/util/iovec.h"

namespace syncblock {

int AdvanceIov(struct iovec* iov, int iovcnt, size_t n) {
  int i = 0;
  while (i < iovcnt && n >= iov[i].iov_len) {
    n -= iov[i].iov_len;
    ++i;
  }
  if (i < iovcnt) {
    iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + n;
    iov[i].iov_len -= n;
  }
  return i;
}

}  // namespace syncblock
