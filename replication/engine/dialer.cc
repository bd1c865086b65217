#include "replication/engine/dialer.h"

#include "replication/util/socket.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::StatusOr<int> PosixDialer::Dial(const std::string& address,
                                      std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(address));
  return ConnectTcp(hp, timeout);
}

std::shared_ptr<Dialer> DefaultDialer() {
  static const auto dialer = std::make_shared<PosixDialer>();
  return dialer;
}

}  // namespace syncblock::repl
