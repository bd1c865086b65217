// libFuzzer target for the NBD server's socket-free code: the input is a
// client's byte stream (client flags, options, then transmission requests),
// fed through the same parse -> Handshake -> CheckRequest path the server's
// connections use. The individual parsers, the client's half included, are
// also fed the raw input.
// Any crash, sanitizer report or inconsistent reply is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "replication/block_device.h"
#include "replication/nbd/nbd_handshake.h"
#include "replication/nbd/nbd_protocol.h"

namespace {

using namespace syncblock::repl;       // NOLINT
using namespace syncblock::repl::nbd;  // NOLINT

class NullDevice : public BlockDevice {
 public:
  NullDevice(uint64_t size, bool read_only) : size_(size), read_only_(read_only) {}
  uint64_t Size() const override { return size_; }
  bool ReadOnly() const override { return read_only_; }
  void Submit(std::shared_ptr<IoRequest> request) override {
    request->status = absl::OkStatus();
    request->done(*request);
  }

 private:
  uint64_t size_;
  bool read_only_;
};

class FuzzProvider : public ExportProvider {
 public:
  std::shared_ptr<BlockDevice> Open(const std::string& name) override {
    if (name == "vol") return rw_;
    if (name == "ro") return ro_;
    return nullptr;
  }
  std::vector<std::string> List() override { return {"vol", "ro"}; }

 private:
  std::shared_ptr<BlockDevice> rw_ = std::make_shared<NullDevice>(1 << 20, false);
  std::shared_ptr<BlockDevice> ro_ = std::make_shared<NullDevice>(12345, true);
};

// Every option reply the handshake produces must be well framed.
void CheckReplies(uint32_t option, const std::string& bytes) {
  if (option == kOptExportName) {
    // Unframed: size, flags, and maybe 124 zeroes; or nothing (closed).
    if (!bytes.empty() && bytes.size() != 10 && bytes.size() != 10 + kExportNameReplyZeroes) {
      abort();
    }
    return;
  }
  size_t pos = 0;
  while (pos < bytes.size()) {
    // Read back with the client's half of the codec, as the initiator would.
    absl::StatusOr<OptionReplyHeader> header =
        ParseOptionReplyHeader(std::string_view(bytes).substr(pos));
    if (!header.ok()) abort();
    if (bytes.size() - pos - kOptionReplyHeaderSize < header->length) abort();
    pos += kOptionReplyHeaderSize + header->length;
  }
}

void Session(std::string_view in) {
  FuzzProvider provider;
  HandshakeConfig config;
  config.max_option_length = 4096 + 64;
  config.max_option_discard = 1 << 16;
  Handshake handshake(&provider, config);
  if (in.size() < kClientFlagsSize) return;
  if (handshake.OnClientFlags(LoadU32(in.data())).next == Handshake::Next::kClose) return;
  in.remove_prefix(kClientFlagsSize);
  while (true) {
    if (in.size() < kOptionHeaderSize) return;
    absl::StatusOr<OptionHeader> header = ParseOptionHeader(in.substr(0, kOptionHeaderSize));
    if (!header.ok()) return;
    in.remove_prefix(kOptionHeaderSize);
    Handshake::Outcome outcome;
    switch (handshake.PolicyFor(*header)) {
      case Handshake::DataPolicy::kClose:
        return;
      case Handshake::DataPolicy::kDiscardThenTooBig:
        if (in.size() < header->length) return;
        in.remove_prefix(header->length);
        outcome = handshake.OnTooBig(*header);
        break;
      case Handshake::DataPolicy::kRead:
        if (in.size() < header->length) return;
        outcome = handshake.OnOption(*header, in.substr(0, header->length));
        in.remove_prefix(header->length);
        break;
    }
    CheckReplies(header->option, outcome.reply);
    if (outcome.next == Handshake::Next::kClose) return;
    if (outcome.next == Handshake::Next::kTransmission) break;
  }
  ExportLimits limits{handshake.device()->Size(), handshake.device()->ReadOnly(), 32u << 20};
  while (in.size() >= kRequestHeaderSize) {
    absl::StatusOr<RequestHeader> r = ParseRequestHeader(in.substr(0, kRequestHeaderSize));
    if (!r.ok()) return;
    in.remove_prefix(kRequestHeaderSize);
    if (r->type == kCmdDisc) return;
    uint32_t error = CheckRequest(*r, limits);
    if (error == 0 && r->type != kCmdFlush &&
        (r->offset > limits.size || r->length > limits.size - r->offset)) {
      abort();  // accepted a request past the end
    }
    if (r->type == kCmdWrite) {
      if (in.size() < r->length) return;
      in.remove_prefix(r->length);
    }
    char reply[kSimpleReplySize];
    EncodeSimpleReply(error, r->handle, reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParseOptionHeader(in);
  (void)ParseInfoRequest(in);
  (void)ParseOptionReplyHeader(in);
  (void)ParseInfoReply(in);
  (void)ParseSimpleReply(in);
  if (absl::StatusOr<RequestHeader> r = ParseRequestHeader(in); r.ok()) {
    (void)CheckRequest(*r, ExportLimits{size, (size & 1) != 0, 32u << 20});
  }
  Session(in);
  return 0;
}
