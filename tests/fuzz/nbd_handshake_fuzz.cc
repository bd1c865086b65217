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
// bounded number of options.
//
// With TLS required (FORCEDTLS), before NBD_OPT_STARTTLS only STARTTLS and
// ABORT are served (NBD_REP_ERR_TLS_REQD for the rest, the end for
// NBD_OPT_EXPORT_NAME, and for a client without fixed newstyle); STARTTLS
// with data is invalid; without, it is acknowledged and the harness either
// "completes" the TLS handshake with an identity from the input or drops the
// connection; STARTTLS again is invalid. With access control (the real
// PublicationAuthorizer over publications from the input), every export a
// client opens, sees in NBD_OPT_LIST, or gets NBD_REP_INFO for, is the one a
// model of nbd_access.h's rules allows, read-only when published so.
// Any crash, sanitizer report or abort is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replication/block_device.h"
#include "replication/nbd/nbd_access.h"
#include "replication/nbd/nbd_handshake.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/security/certificates.h"

namespace {

using namespace syncblock::repl;       // NOLINT
using namespace syncblock::repl::nbd;  // NOLINT
namespace security = syncblock::security;

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

// The publications the authorizer sees: "vol" and "ro" are served, each with
// attributes from the input (or none: a volume not known here).
struct Publications {
  std::map<std::string, std::optional<std::map<std::string, std::string>>> of;
  std::optional<std::map<std::string, std::string>> Get(const std::string& name) const {
    auto it = of.find(name);
    return it == of.end() ? std::nullopt : it->second;
  }
};

std::string PublicationValue(Reader& r) {
  switch (r.U8() % 6) {
    case 0:
      return "rw,block,SINGLE_NODE_WRITER";
    case 1:
      return "ro,mount,MULTI_NODE_READER_ONLY";
    case 2:
      return "";
    case 3:
      return "rw";
    case 4:
      return "ro,";
    default:
      return r.Bytes(r.U8() % 32);
  }
}

std::string Pick(Reader& r, std::initializer_list<const char*> names) {
  const size_t i = r.U8() % (names.size() + 1);
  if (i == names.size()) return r.Bytes(r.U8() % 16);
  return *(names.begin() + i);
}

// nbd_access.h's rules, written again from its header comment.
Access Expected(const security::PeerIdentity* peer, bool authorizing, const Publications& pubs,
                const std::string& name) {
  if (!authorizing || peer == nullptr) return Access::kReadWrite;
  std::optional<std::map<std::string, std::string>> attributes = pubs.Get(name);
  if (!attributes) return Access::kNone;
  if (peer->role == security::kRoleAdmin) return Access::kReadWrite;
  if (peer->role != security::kRoleNode || peer->name.empty()) return Access::kNone;
  auto it = attributes->find(std::string(kPublicationAttrPrefix) + peer->name);
  if (it == attributes->end()) return Access::kNone;
  std::string mode = it->second.substr(0, it->second.find(','));
  if (mode == "rw") return Access::kReadWrite;
  if (mode == "ro") return Access::kReadOnly;
  return Access::kNone;
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
  // TLS and access control.
  const uint8_t security_setup = setup & 128 ? r.U8() : 0;
  config.tls = security_setup & 1;
  const bool authorizing = security_setup & 2;
  Publications pubs;
  if (authorizing) {
    for (const char* name : {"vol", "ro"}) {
      if (r.U8() % 4 == 0) {
        pubs.of[name] = std::nullopt;  // not known here
        continue;
      }
      std::map<std::string, std::string> attributes{{"syncMode", "sync"}};
      for (int n = r.U8() % 3; n > 0; --n) {
        attributes[std::string(kPublicationAttrPrefix) + Pick(r, {"node-1", "node-2", ""})] =
            PublicationValue(r);
      }
      pubs.of[name] = std::move(attributes);
    }
  }
  PublicationAuthorizer authorizer([&pubs](const std::string& name) { return pubs.Get(name); });
  if (authorizing) config.authorizer = &authorizer;
  std::optional<security::PeerIdentity> peer;
  auto access = [&](const std::string& name) {
    return Expected(peer ? &*peer : nullptr, authorizing, pubs, name);
  };
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
  if (!CheckClientFlags(client_flags).ok() ||
      (config.tls && !(client_flags & kClientFlagFixedNewstyle))) {
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
        const bool tls_gate = config.refusal.empty() && config.tls && !handshake.tls_active();
        outcome = handshake.OnOption(header, read);
        if (outcome.next == Handshake::Next::kStartTls) {
          // Only an empty STARTTLS, once, and only where TLS is configured.
          if (option != kOptStartTls || !read.empty() || !tls_gate) abort();
          Replies replies = ReadReplies(option, outcome.reply);
          if (replies.headers.size() != 1 || replies.headers[0].type != kRepAck) abort();
          if (r.U8() & 1) return;  // the TLS handshake failed: the connection ends
          peer = security::PeerIdentity{
              Pick(r, {"node-1", "node-2", "admin-1", ""}),
              Pick(r, {security::kRoleNode, security::kRoleAdmin, security::kRoleStorage,
                       security::kRoleController, ""})};
          handshake.OnTlsEstablished(*peer);
          if (!handshake.tls_active()) abort();
          continue;
        }
        if (tls_gate && option != kOptStartTls && option != kOptAbort) {
          // FORCEDTLS: nothing is served before TLS, and nothing is opened.
          if (!opened.empty() || outcome.next == Handshake::Next::kTransmission) abort();
          if (option == kOptExportName) {
            if (outcome.next != Handshake::Next::kClose || !outcome.reply.empty()) abort();
            return;
          }
          Replies replies = ReadReplies(option, outcome.reply);
          if (replies.headers.size() != 1 || replies.headers[0].type != kRepErrTlsReqd) abort();
          if (outcome.next == Handshake::Next::kClose) {
            if (continued < config.max_options) abort();
            return;
          }
          if (++continued > config.max_options + config.max_refused_options + 1) abort();
          continue;
        }
        if (option == kOptExportName) {
          if (outcome.next == Handshake::Next::kContinue) abort();
          if (outcome.next == Handshake::Next::kClose) {
            if (!outcome.reply.empty()) abort();
            // Refused only for a reason: a bad name, an unknown export, access.
            if (config.refusal.empty() && CheckExportName(read).ok() && provider.Open(read) &&
                access(read) != Access::kNone) {
              abort();
            }
            return;
          }
          if (access(read) == Access::kNone ||
              handshake.device()->ReadOnly() !=
                  (provider.Open(read)->ReadOnly() || access(read) == Access::kReadOnly)) {
            abort();
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
          const Access allowed = device ? access(request->name) : Access::kNone;
          if (!device || allowed == Access::kNone) {
            if (!(last & kRepErrBit) || outcome.next != Handshake::Next::kContinue) abort();
            if (device && last != kRepErrPolicy) abort();  // refused, and said so
          } else {
            // What the client sees: the export, read-only when published so.
            const bool read_only = device->ReadOnly() || allowed == Access::kReadOnly;
            NullDevice seen(device->Size(), read_only);
            CheckInfoReplies(replies, seen, config.multi_conn);
            if (option == kOptGo) {
              if (outcome.next != Handshake::Next::kTransmission || !handshake.device() ||
                  handshake.device()->ReadOnly() != read_only ||
                  handshake.device()->Size() != device->Size() ||
                  handshake.export_name() != request->name ||
                  handshake.transmission_flags() !=
                      TransmissionFlags(read_only, config.multi_conn)) {
                abort();
              }
              return;
            }
          }
        } else if (option == kOptList) {
          if (read.empty() != (last == kRepAck)) abort();
          // Exactly the exports this client may open.
          std::vector<std::string> listed;
          for (size_t i = 0; i + 1 < replies.headers.size(); ++i) {
            if (replies.headers[i].type != kRepServer || replies.data[i].size() < 4) abort();
            listed.push_back(replies.data[i].substr(4));
          }
          std::vector<std::string> want;
          if (read.empty()) {
            for (const std::string& name : provider.List()) {
              if (CheckExportName(name).ok() && access(name) != Access::kNone) {
                want.push_back(name);
              }
            }
          }
          if (listed != want) abort();
        } else if (option == kOptStartTls) {
          // Refused: in plaintext mode, with data, or with TLS already up.
          if (last != kRepErrUnsup && last != kRepErrInvalid) abort();
          if (handshake.tls_active() && last != kRepErrInvalid) abort();
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
