// libFuzzer target for the option haggling of the NBD server's handshake
// (replication/nbd/nbd_handshake.h), option by option. Where
// nbd_protocol_fuzz feeds raw bytes, this one builds the client's side from
// the input so that every option is reached with plausible data: the
// handshake's configuration (a refusal, limits, block sizes), the client
// flags, then options chosen from every option the spec names (and raw
// numbers), each with data that is well formed (NBD_OPT_INFO/GO requests for
// known and unknown exports) or not, and a header length that may lie.
//
// The replies are read back with the client's half of the codec and checked
// against the spec: every reply is framed and answers the option asked; a
// reply sequence ends in an ACK or an error (NBD_OPT_GO/INFO: NBD_REP_INFO
// with the export's real size and flags first); NBD_OPT_EXPORT_NAME gets 10
// or 134 bytes; a refused client gets NBD_REP_ERR_POLICY for everything but
// NBD_OPT_ABORT; NBD_OPT_ABORT gets an ACK and the end; the transmission
// phase starts only with the export asked for; the connection ends after a
// bounded number of options. Any crash, sanitizer report or abort is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

constexpr uint64_t kRwSize = 1 << 20;
constexpr uint64_t kRoSize = 12345;

class FuzzProvider : public ExportProvider {
 public:
  std::shared_ptr<BlockDevice> Open(const std::string& name) override {
    if (name == "vol") return rw_;
    if (name == "ro") return ro_;
    return nullptr;
  }
  std::vector<std::string> List() override { return {"vol", "ro", std::string("bad\0", 4)}; }
  const std::shared_ptr<BlockDevice>& rw() const { return rw_; }
  const std::shared_ptr<BlockDevice>& ro() const { return ro_; }

 private:
  std::shared_ptr<BlockDevice> rw_ = std::make_shared<NullDevice>(kRwSize, false);
  std::shared_ptr<BlockDevice> ro_ = std::make_shared<NullDevice>(kRoSize, true);
};

// Reads the input; yields zeros once it is exhausted.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  uint8_t U8() {
    if (in_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t{U16()} << 16 | U16(); }
  std::string Bytes(size_t n) {
    n = std::min(n, in_.size());
    std::string out(in_.substr(0, n));
    in_.remove_prefix(n);
    return out;
  }

 private:
  std::string_view in_;
};

constexpr uint32_t kOptions[] = {kOptExportName,
                                 kOptAbort,
                                 kOptList,
                                 kOptStartTls,
                                 kOptInfo,
                                 kOptGo,
                                 kOptStructuredReply,
                                 kOptListMetaContext,
                                 kOptSetMetaContext,
                                 4 /* PEEK_EXPORT */,
                                 11 /* EXTENDED_HEADERS */};

std::string ExportNameFor(Reader& r) {
  switch (r.U8() % 6) {
    case 0:
      return "vol";
    case 1:
      return "ro";
    case 2:
      return "";
    case 3:
      return std::string("vol\0", 4);
    case 4:
      return std::string(kMaxStringLength + 1, 'v');
    default:
      return r.Bytes(r.U8());
  }
}

std::string OptionData(Reader& r, uint32_t option) {
  switch (r.U8() % 4) {
    case 0:
      return {};
    case 1:  // an NBD_OPT_INFO/GO request, whatever the option
    case 2: {
      std::string name = ExportNameFor(r);
      std::vector<uint16_t> types;
      for (int n = r.U8() % 6; n > 0; --n) types.push_back(r.U8() % 2 ? r.U8() % 5 : r.U16());
      if (option == kOptExportName) return name;
      return EncodeInfoRequest(name, types);
    }
    default:
      return r.Bytes(r.U16() % 8192);
  }
}

// The reply sequence of one option, read back as a client would.
struct Replies {
  std::vector<OptionReplyHeader> headers;
  std::vector<std::string> data;
};

Replies ReadReplies(uint32_t option, const std::string& bytes) {
  Replies out;
  std::string_view in(bytes);
  while (!in.empty()) {
    absl::StatusOr<OptionReplyHeader> h = ParseOptionReplyHeader(in);
    if (!h.ok()) abort();
    if (h->option != option) abort();  // answers the option asked
    in.remove_prefix(kOptionReplyHeaderSize);
    if (in.size() < h->length) abort();
    out.headers.push_back(*h);
    out.data.emplace_back(in.substr(0, h->length));
    in.remove_prefix(h->length);
  }
  return out;
}

// NBD_OPT_INFO/GO for `device`: NBD_REP_INFO replies (the export's size and
// flags among them), then the ACK.
void CheckInfoReplies(const Replies& replies, const BlockDevice& device, bool multi_conn) {
  if (replies.headers.empty() || replies.headers.back().type != kRepAck) abort();
  bool saw_export = false;
  for (size_t i = 0; i + 1 < replies.headers.size(); ++i) {
    if (replies.headers[i].type != kRepInfo) abort();
    absl::StatusOr<InfoReply> info = ParseInfoReply(replies.data[i]);
    if (!info.ok()) abort();
    if (info->type == kInfoExport) {
      if (info->size != device.Size() ||
          info->transmission_flags != TransmissionFlags(device.ReadOnly(), multi_conn)) {
        abort();
      }
      saw_export = true;
    }
  }
  if (!saw_export) abort();
}

void Session(std::string_view input) {
  Reader r(input);
  FuzzProvider provider;
  HandshakeConfig config;
  const uint8_t setup = r.U8();
  config.multi_conn = setup & 1;
  if (setup & 2) config.refusal = "too many connections";
  if (setup & 4) config.max_options = 1 + r.U8() % 16;
  if (setup & 8) config.max_refused_options = r.U8() % 8;
  if (setup & 16) config.max_option_length = r.U16();
  if (setup & 32) config.max_option_discard = config.max_option_length + r.U16();
  if (setup & 64) config.block_sizes = {1u << (r.U8() % 13), 4096, 1u << (r.U8() % 26)};
  std::string opened;
  Handshake handshake(&provider, config, [&opened](const std::string& name) { opened = name; });

  uint32_t client_flags;
  switch (r.U8() % 4) {
    case 0:
      client_flags = kClientFlagFixedNewstyle;
      break;
    case 1:
      client_flags = kClientFlagFixedNewstyle | kClientFlagNoZeroes;
      break;
    case 2:
      client_flags = 0;
      break;
    default:
      client_flags = r.U32();
  }
  Handshake::Outcome start = handshake.OnClientFlags(client_flags);
  if (!CheckClientFlags(client_flags).ok()) {
    if (start.next != Handshake::Next::kClose) abort();
    return;
  }
  if (start.next != Handshake::Next::kContinue || !start.reply.empty()) abort();
  const bool no_zeroes = client_flags & kClientFlagNoZeroes;

  int continued = 0;
  while (!r.empty()) {
    const uint8_t pick = r.U8();
    const uint32_t option = pick < 240 ? kOptions[pick % std::size(kOptions)] : r.U32();
    const std::string data = OptionData(r, option);
    OptionHeader header{option, static_cast<uint32_t>(data.size())};
    if (r.U8() == 0xff) header.length = r.U32();  // a lying or huge length
    Handshake::Outcome outcome;
    switch (handshake.PolicyFor(header)) {
      case Handshake::DataPolicy::kClose:
        if (header.length <= config.max_option_length) abort();
        return;
      case Handshake::DataPolicy::kDiscardThenTooBig: {
        if (header.length <= config.max_option_length || option == kOptExportName) abort();
        outcome = handshake.OnTooBig(header);
        Replies replies = ReadReplies(option, outcome.reply);
        if (outcome.next == Handshake::Next::kTransmission) abort();
        if (replies.headers.size() != 1 || replies.headers[0].type != kRepErrTooBig) abort();
        break;
      }
      case Handshake::DataPolicy::kRead: {
        if (header.length > config.max_option_length) abort();
        // The connection reads exactly header.length bytes: pad or cut.
        std::string read = data;
        read.resize(header.length);
        opened.clear();
        outcome = handshake.OnOption(header, read);
        if (option == kOptExportName) {
          if (outcome.next == Handshake::Next::kContinue) abort();
          if (outcome.next == Handshake::Next::kClose) {
            if (!outcome.reply.empty()) abort();
            return;
          }
          // The unframed reply: size, flags, and the zeroes unless declined.
          if (outcome.reply.size() != (no_zeroes ? 10u : 10u + kExportNameReplyZeroes)) abort();
          if (!config.refusal.empty() || read != handshake.export_name() || opened != read) {
            abort();
          }
          if (LoadU64(outcome.reply.data()) != handshake.device()->Size() ||
              LoadU16(outcome.reply.data() + 8) != handshake.transmission_flags()) {
            abort();
          }
          return;
        }
        Replies replies = ReadReplies(option, outcome.reply);
        if (!config.refusal.empty() && option != kOptAbort) {
          if (outcome.next == Handshake::Next::kTransmission) abort();
          if (outcome.next == Handshake::Next::kContinue &&
              (replies.headers.size() != 1 || replies.headers[0].type != kRepErrPolicy)) {
            abort();
          }
          if (!opened.empty()) abort();  // a refused client opens nothing
          break;
        }
        if (option == kOptAbort) {
          if (outcome.next != Handshake::Next::kClose || replies.headers.size() != 1 ||
              replies.headers[0].type != kRepAck) {
            abort();
          }
          return;
        }
        if (outcome.next == Handshake::Next::kClose) {
          // Only the option limit ends a session here, and not before it.
          if (continued < config.max_options) abort();
          return;
        }
        if (replies.headers.empty()) abort();
        const uint32_t last = replies.headers.back().type;
        if (last != kRepAck && !(last & kRepErrBit)) abort();
        if ((last & kRepErrBit) && replies.headers.size() != 1) abort();
        if (option == kOptInfo || option == kOptGo) {
          absl::StatusOr<InfoRequest> request = ParseInfoRequest(read);
          std::shared_ptr<BlockDevice> device =
              request.ok() ? provider.Open(request->name) : nullptr;
          if (!device) {
            if (!(last & kRepErrBit) || outcome.next != Handshake::Next::kContinue) abort();
          } else {
            CheckInfoReplies(replies, *device, config.multi_conn);
            if (option == kOptGo) {
              if (outcome.next != Handshake::Next::kTransmission || handshake.device() != device ||
                  handshake.export_name() != request->name) {
                abort();
              }
              return;
            }
          }
        } else if (option == kOptList) {
          if (read.empty() != (last == kRepAck)) abort();
        } else if (!(last & kRepErrBit)) {
          abort();  // nothing else is supported
        }
        if (outcome.next != Handshake::Next::kContinue) abort();
        break;
      }
    }
    if (outcome.next == Handshake::Next::kClose) return;
    if (++continued > config.max_options + config.max_refused_options + 1) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Session(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
