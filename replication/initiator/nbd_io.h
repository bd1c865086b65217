// Synchronous NBD transmission-phase requests (NetworkBlockDevice
// doc/proto.md, "Transmission phase", simple replies only: we never ask for
// structured replies) on one handshaken connection: read, write, flush, trim
// and write-zeroes. One request at a time per connection; parallelism comes
// from several connections (fuse_export.h keeps a pool).
//
// Errors: UNAVAILABLE or INTERNAL mean the connection is broken (transport
// failure, protocol violation, NBD_ESHUTDOWN) and must be dropped; other codes
// are the server's error for this one request, and ErrnoOf gives its errno.
//
// Not thread-safe: one caller at a time per NbdIoConnection.
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "replication/initiator/nbd_client.h"

namespace syncblock::repl::initiator {

class NbdIoConnection {
 public:
  // Takes a connection from NbdConnect; `io_timeout` bounds each request
  // (a hung server reads as a broken connection).
  NbdIoConnection(NbdConnection conn, std::chrono::milliseconds io_timeout);

  const NbdExportInfo& info() const { return conn_.info(); }

  absl::Status Read(uint64_t offset, uint32_t length, char* out);
  absl::Status Write(uint64_t offset, uint32_t length, const char* data, bool fua = false);
  absl::Status Flush();
  absl::Status Trim(uint64_t offset, uint32_t length);
  absl::Status WriteZeroes(uint64_t offset, uint32_t length, bool no_hole);
  // Sends NBD_CMD_DISC and closes.
  void Disconnect() { conn_.Disconnect(); }

 private:
  absl::Status Transact(uint16_t type, uint16_t flags, uint64_t offset, uint32_t length,
                        const char* payload, char* out);

  NbdConnection conn_;
  uint64_t next_cookie_ = 1;
};

// True when a status from NbdIoConnection means the connection is unusable.
bool IsConnectionBroken(const absl::Status& status);
// The errno to give a FUSE caller for an NbdIoConnection error.
int ErrnoOf(const absl::Status& status);

}  // namespace syncblock::repl::initiator
