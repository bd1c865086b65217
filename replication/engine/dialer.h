// The seam between the engine and the network for outgoing replication
// connections, so that tests can dial through a proxy that delays or
// black-holes traffic. PosixDialer is the real one.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace syncblock::repl {

class Dialer {
 public:
  virtual ~Dialer() = default;
  // A connected stream socket to `address` ("host:port"), or UNAVAILABLE /
  // INVALID_ARGUMENT naming the address.
  virtual absl::StatusOr<int> Dial(const std::string& address,
                                   std::chrono::milliseconds timeout) = 0;
};

class PosixDialer : public Dialer {
 public:
  absl::StatusOr<int> Dial(const std::string& address, std::chrono::milliseconds timeout) override;
};

std::shared_ptr<Dialer> DefaultDialer();

}  // namespace syncblock::repl
