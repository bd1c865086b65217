// Finds where a volume's NBD export is served now: by its primary only, which
// moves on failover. Tries, in order, the URI the controller put in the
// publish context, then asks the storage nodes' control API (GetReplica
// answers nbd_uri on the primary). Every candidate is confirmed with a real
// NBD handshake, so a stale answer is never handed to an attacher.
//
// Thread-safe: GrpcPrimaryResolver keeps no state besides the address source.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::repl::initiator {

class PrimaryResolver {
 public:
  virtual ~PrimaryResolver() = default;
  // The nbd:// URI of the volume's export. `hint_uri` ("" for none) is tried
  // first, then `hint_control_addresses`, then the configured ones. NOT_FOUND
  // when every storage node that answered does not know the volume;
  // UNAVAILABLE when none serves it now.
  virtual absl::StatusOr<std::string> Resolve(
      const std::string& volume_id, const std::string& hint_uri,
      const std::vector<std::string>& hint_control_addresses) = 0;
};

class GrpcPrimaryResolver : public PrimaryResolver {
 public:
  // `control_addresses` is called on every Resolve (the list may change).
  explicit GrpcPrimaryResolver(std::function<std::vector<std::string>()> control_addresses)
      : control_addresses_(std::move(control_addresses)) {}

  absl::StatusOr<std::string> Resolve(
      const std::string& volume_id, const std::string& hint_uri,
      const std::vector<std::string>& hint_control_addresses) override;

 private:
  std::function<std::vector<std::string>()> control_addresses_;
};

}  // namespace syncblock::repl::initiator
