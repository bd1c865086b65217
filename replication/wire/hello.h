// The hello exchange that opens every replication connection (see
// replication/doc/wire_format.md): the primary names the volume, its epoch and
// the member list; the replica answers with its state. JSON payloads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/types/volume_types.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {

// The size of an encrypted volume's data key (AES-256-XTS: two keys).
inline constexpr size_t kHelloDataKeySize = 64;

struct HelloRequest {
  std::string volume_id;
  uint64_t epoch = 0;
  std::string primary_node_id;
  std::vector<MemberInfo> members;
  uint64_t size_bytes = 0;
  uint64_t region_size = 0;
  std::map<std::string, std::string> attributes;
  // Create the replica when this node has none (a replaced or wiped node).
  bool create_if_missing = true;
  // Every snapshot the primary knows (ready or not). The replica drops any
  // other it holds: it was deleted while the replica was away. Absent (a
  // primary without snapshot support, or a kManifest update): drop nothing.
  std::optional<std::vector<std::string>> snapshots;
  // An encrypted volume's data key (kHelloDataKeySize bytes), from a primary that
  // holds it, so that a replica whose node restarted is unlocked again. Sent
  // only over mutually authenticated TLS, never stored, never logged
  // (replication/doc/encryption.md, "Unlocking"). Empty: none.
  std::string data_key;
};

struct HelloReply {
  WireStatus status = WireStatus::kOk;
  std::string message;
  uint64_t epoch = 0;
  std::string data_generation;
  uint64_t applied_seq = 0;
  // Regions this replica may hold writes the new primary does not know of (it
  // was primary before and had writes in flight).
  std::vector<uint64_t> dirty_hint;
  // The snapshots this replica holds complete (after dropping the ones the
  // hello did not list): the primary copies it the others.
  std::vector<std::string> snapshots;
  // The replica's machine went down since it last synced with a primary:
  // writes it acknowledged may be lost; compare it by checksums.
  bool lost_unsynced = false;
};

std::string EncodeHello(const HelloRequest& h);
absl::StatusOr<HelloRequest> DecodeHello(const std::string& json);
std::string EncodeHelloReply(const HelloReply& r);
absl::StatusOr<HelloReply> DecodeHelloReply(const std::string& json);

}  // namespace syncblock::repl
