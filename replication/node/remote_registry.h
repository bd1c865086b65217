// This node's copy of the list of remotes (other syncblock clusters that
// volumes sync to, replication/doc/remote_sync.md), kept in
// DATA_DIR/remotes.json. Every node keeps the whole list, so the client that
// runs a sync finds it on whichever node answers; a record replaces another
// of its name only when newer, so that writes reaching nodes in different
// orders agree, and a deletion is kept as a record so that an older one sent
// late cannot bring the remote back.
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "replication/proto/control.pb.h"

namespace syncblock::repl {

class RemoteRegistry {
 public:
  explicit RemoteRegistry(std::string path) : path_(std::move(path)) {}

  // Keeps `record` unless a newer one of its name is kept; returns the one
  // kept. INVALID_ARGUMENT for a bad name, no storage nodes on a live record,
  // or no time; the file's write error otherwise (nothing changes then).
  absl::StatusOr<control::v1::RemoteRecord> Put(const control::v1::RemoteRecord& record);
  // Every record, deletions included, by name. The file's read error when it
  // exists and cannot be read or parsed.
  absl::StatusOr<std::vector<control::v1::RemoteRecord>> List();

 private:
  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<control::v1::RemoteRecord> records_ ABSL_GUARDED_BY(mu_);  // by name
};

// A remote's name: 1-63 of [a-z0-9-], starting with a letter or digit.
absl::Status ValidateRemoteName(const std::string& name);

}  // namespace syncblock::repl
