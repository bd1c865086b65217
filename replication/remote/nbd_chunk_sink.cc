#include "replication/remote/nbd_chunk_sink.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "replication/security/grpc_credentials.h"

namespace syncblock::repl {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kIoTimeout = std::chrono::seconds(60);
// WRITE_ZEROES carries a 32-bit length.
constexpr uint64_t kMaxZeroes = 1ull << 30;

}  // namespace

absl::StatusOr<std::unique_ptr<NbdChunkSink>> NbdChunkSink::Open(const std::string& nbd_uri,
                                                                 std::string what) {
  auto uri = initiator::ParseNbdUri(nbd_uri);
  if (!uri.ok()) return uri.status();
  // The process's own identity (a controller's, an admin's), not the NBD one
  // a CSI node plugin in the same process presents: a sync target opens to
  // the controller (replication/nbd/nbd_access.cc).
  std::optional<security::TlsFiles> identity = security::ProcessTlsFiles();
  auto conn = initiator::NbdIoConnection::Open(*uri, kConnectTimeout, kIoTimeout,
                                               identity ? &*identity : nullptr);
  if (!conn.ok()) {
    return absl::Status(conn.status().code(), absl::StrCat("opening ", what, " at ", nbd_uri, ": ",
                                                           conn.status().message()));
  }
  return std::unique_ptr<NbdChunkSink>(new NbdChunkSink(std::move(*conn), std::move(what)));
}

NbdChunkSink::~NbdChunkSink() { conn_->Disconnect(); }

absl::Status NbdChunkSink::Named(const absl::Status& s, const char* op, uint64_t offset) const {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(op, " at ", offset, " of ", what_, ": ", s.message()));
}

absl::Status NbdChunkSink::Write(uint64_t offset, const std::string& data) {
  return Named(conn_->Write(offset, static_cast<uint32_t>(data.size()), data.data()), "write",
               offset);
}

absl::Status NbdChunkSink::WriteZeroes(uint64_t offset, uint64_t length) {
  for (uint64_t at = offset; at < offset + length;) {
    const uint64_t n = std::min(kMaxZeroes, offset + length - at);
    if (absl::Status s = conn_->WriteZeroes(at, static_cast<uint32_t>(n), /*no_hole=*/false);
        !s.ok()) {
      return Named(s, "write-zeroes", at);
    }
    at += n;
  }
  return absl::OkStatus();
}

absl::Status NbdChunkSink::Flush() { return Named(conn_->Flush(), "flush", 0); }

}  // namespace syncblock::repl
