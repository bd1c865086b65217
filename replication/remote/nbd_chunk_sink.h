// ChunkSink over a volume's NBD export (the target of a remote sync, or the
// volume a promotion rolls back), through libnbd.
//
// Not thread-safe: one caller at a time.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/initiator/nbd_io.h"
#include "replication/remote/range_shipper.h"

namespace syncblock::repl {

class NbdChunkSink final : public ChunkSink {
 public:
  // Connects to `nbd_uri` (a volume's export on its primary); `what` names
  // the volume in errors ("volume dr-db on remote east").
  static absl::StatusOr<std::unique_ptr<NbdChunkSink>> Open(const std::string& nbd_uri,
                                                            std::string what);
  ~NbdChunkSink() override;

  uint64_t size() const { return conn_->info().size; }
  absl::Status Write(uint64_t offset, const std::string& data) override;
  absl::Status WriteZeroes(uint64_t offset, uint64_t length) override;
  absl::Status Flush() override;

 private:
  NbdChunkSink(std::unique_ptr<initiator::NbdIoConnection> conn, std::string what)
      : conn_(std::move(conn)), what_(std::move(what)) {}
  absl::Status Named(const absl::Status& s, const char* op, uint64_t offset) const;

  std::unique_ptr<initiator::NbdIoConnection> conn_;
  const std::string what_;
};

}  // namespace syncblock::repl
