#include "replication/nbd/nbd_handshake.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace syncblock::repl::nbd {

Handshake::Handshake(ExportProvider* provider, HandshakeConfig config,
                     std::function<void(const std::string&)> before_open)
    : provider_(provider), config_(config), before_open_(std::move(before_open)) {}

Handshake::Outcome Handshake::OnClientFlags(uint32_t client_flags) {
  if (absl::Status s = CheckClientFlags(client_flags); !s.ok()) {
    return {"", Next::kClose, std::string(s.message())};
  }
  // Clients that omit C_FIXED_NEWSTYLE still get fixed-newstyle replies (the
  // spec allows it); their only option, NBD_OPT_EXPORT_NAME, is unchanged.
  no_zeroes_ = (client_flags & kClientFlagNoZeroes) != 0;
  fixed_newstyle_ = (client_flags & kClientFlagFixedNewstyle) != 0;
  // TLS needs fixed newstyle (the spec puts such a client in NOTLS mode,
  // which a server that requires TLS cannot serve).
  if (config_.tls && !fixed_newstyle_) {
    return {"", Next::kClose, "client does not speak fixed newstyle NBD, which TLS requires"};
  }
  return {};
}

Handshake::DataPolicy Handshake::PolicyFor(const OptionHeader& header) const {
  if (header.length <= config_.max_option_length) return DataPolicy::kRead;
  // NBD_OPT_EXPORT_NAME cannot be answered with an error: the only way to
  // refuse it is to end the session.
  if (header.option == kOptExportName) return DataPolicy::kClose;
  if (header.length > config_.max_option_discard) return DataPolicy::kClose;
  return DataPolicy::kDiscardThenTooBig;
}

Handshake::Outcome Handshake::OnTooBig(const OptionHeader& header) {
  return Count(
      {EncodeOptionReply(header.option, kRepErrTooBig, "option data too long"), Next::kContinue});
}

Handshake::Outcome Handshake::Count(Outcome outcome) {
  if (outcome.next == Next::kContinue && ++options_seen_ > config_.max_options) {
    outcome.next = Next::kClose;
    outcome.reason = "too many options";
  }
  return outcome;
}

Handshake::Outcome Handshake::Refuse(const OptionHeader& header) {
  if (header.option == kOptExportName) return {"", Next::kClose, config_.refusal};
  if (++options_seen_ > config_.max_refused_options) {
    return {"", Next::kClose, "too many options after a refusal"};
  }
  return {EncodeOptionReply(header.option, kRepErrPolicy, config_.refusal), Next::kContinue};
}

Handshake::Outcome Handshake::OnOption(const OptionHeader& header, std::string_view data) {
  if (!config_.refusal.empty() && header.option != kOptAbort) return Refuse(header);
  if (config_.tls && !tls_active_) {
    // FORCEDTLS: nothing but STARTTLS and ABORT before TLS.
    switch (header.option) {
      case kOptStartTls:
        return Count(StartTls(data));
      case kOptAbort:
        break;
      case kOptExportName:
        return {"", Next::kClose, "NBD_OPT_EXPORT_NAME without TLS (this server requires TLS)"};
      default:
        return Count({EncodeOptionReply(header.option, kRepErrTlsReqd,
                                        "this server requires TLS: send NBD_OPT_STARTTLS first "
                                        "(e.g. an nbds:// URI with a client certificate)"),
                      Next::kContinue});
    }
  }
  switch (header.option) {
    case kOptExportName:
      return ExportName(data);
    case kOptAbort:
      // Data is ignored, as the spec asks; the client closes after the ACK.
      return {EncodeOptionReply(kOptAbort, kRepAck), Next::kClose, "client sent NBD_OPT_ABORT"};
    case kOptList:
      return Count(List(data));
    case kOptInfo:
    case kOptGo:
      return Count(InfoOrGo(header.option, data));
    case kOptStartTls:
      if (!data.empty()) {
        return Count({EncodeOptionReply(header.option, kRepErrInvalid, "STARTTLS takes no data"),
                      Next::kContinue});
      }
      if (tls_active_) {
        return Count({EncodeOptionReply(header.option, kRepErrInvalid, "TLS is already negotiated"),
                      Next::kContinue});
      }
      return Count({EncodeOptionReply(header.option, kRepErrUnsup,
                                      "TLS is not configured on this server (--insecure)"),
                    Next::kContinue});
    default:
      // NBD_OPT_STRUCTURED_REPLY, the meta-context options, extended headers
      // and anything unknown: we only speak simple replies.
      return Count({EncodeOptionReply(header.option, kRepErrUnsup), Next::kContinue});
  }
}

Handshake::Outcome Handshake::StartTls(std::string_view data) {
  if (!data.empty()) {
    return {EncodeOptionReply(kOptStartTls, kRepErrInvalid, "STARTTLS takes no data"),
            Next::kContinue};
  }
  return {EncodeOptionReply(kOptStartTls, kRepAck), Next::kStartTls};
}

void Handshake::OnTlsEstablished(const security::PeerIdentity& peer) {
  tls_active_ = true;
  peer_ = peer;
}

std::shared_ptr<BlockDevice> Handshake::Open(const std::string& name, std::string* refusal) {
  if (before_open_) before_open_(name);
  std::shared_ptr<BlockDevice> device = provider_->Open(name);
  if (!device || config_.authorizer == nullptr) return device;
  AccessDecision d = config_.authorizer->Authorize(peer_ ? &*peer_ : nullptr, name);
  switch (d.access) {
    case Access::kReadWrite:
      return device;
    case Access::kReadOnly:
      return std::make_shared<ReadOnlyDevice>(std::move(device));
    case Access::kNone:
      break;
  }
  *refusal = d.reason.empty() ? absl::StrCat("access to ", name, " denied") : d.reason;
  return nullptr;
}

namespace {

std::string Who(const std::optional<security::PeerIdentity>& peer) {
  return peer ? peer->ToString() : "a client without TLS";
}

}  // namespace

Handshake::Outcome Handshake::ExportName(std::string_view data) {
  std::string name(data);
  if (absl::Status s = CheckExportName(name); !s.ok()) {
    return {"", Next::kClose, std::string(s.message())};
  }
  std::string refusal;
  std::shared_ptr<BlockDevice> device = Open(name, &refusal);
  if (!device && !refusal.empty()) {
    Outcome out{"", Next::kClose, refusal};
    out.refused = absl::StrCat(Who(peer_), " refused export ", name, ": ", refusal);
    return out;
  }
  if (!device) {
    std::string refusal = provider_->Refusal(name);
    if (!refusal.empty()) return {"", Next::kClose, std::move(refusal)};
    return {"", Next::kClose, absl::StrCat("NBD_OPT_EXPORT_NAME for unknown export '", name, "'")};
  }
  device_ = std::move(device);
  export_name_ = std::move(name);
  transmission_flags_ = TransmissionFlags(device_->ReadOnly(), config_.multi_conn);
  return {EncodeExportNameReply(device_->Size(), transmission_flags_, no_zeroes_),
          Next::kTransmission};
}

Handshake::Outcome Handshake::List(std::string_view data) {
  if (!data.empty()) {
    return {EncodeOptionReply(kOptList, kRepErrInvalid, "NBD_OPT_LIST takes no data"),
            Next::kContinue};
  }
  std::string reply;
  for (const std::string& name : provider_->List()) {
    if (!CheckExportName(name).ok()) continue;
    // Only what this client may open.
    if (config_.authorizer != nullptr &&
        config_.authorizer->Authorize(peer_ ? &*peer_ : nullptr, name).access == Access::kNone) {
      continue;
    }
    reply += EncodeOptionReply(kOptList, kRepServer, EncodeServerReplyData(name));
  }
  reply += EncodeOptionReply(kOptList, kRepAck);
  return {std::move(reply), Next::kContinue};
}

Handshake::Outcome Handshake::InfoOrGo(uint32_t option, std::string_view data) {
  absl::StatusOr<InfoRequest> request = ParseInfoRequest(data);
  if (!request.ok()) {
    return {EncodeOptionReply(option, kRepErrInvalid, std::string(request.status().message())),
            Next::kContinue};
  }
  std::string refusal;
  std::shared_ptr<BlockDevice> device = Open(request->name, &refusal);
  if (!device && !refusal.empty()) {
    Outcome out{EncodeOptionReply(option, kRepErrPolicy, refusal), Next::kContinue};
    out.refused = absl::StrCat(Who(peer_), " refused export ", request->name, ": ", refusal);
    return out;
  }
  if (!device) {
    // A locked encrypted volume: the client is told why (NBD_REP_ERR_POLICY
    // carries the reason, as for other refusals by policy).
    std::string refusal = provider_->Refusal(request->name);
    if (!refusal.empty()) {
      return {EncodeOptionReply(option, kRepErrPolicy, refusal), Next::kContinue};
    }
    return {EncodeOptionReply(option, kRepErrUnknown,
                              absl::StrCat("no export named '", request->name, "' on this node")),
            Next::kContinue};
  }
  uint16_t flags = TransmissionFlags(device->ReadOnly(), config_.multi_conn);
  std::string reply = EncodeOptionReply(option, kRepInfo, EncodeInfoExport(device->Size(), flags));
  // Our maximum block size is not the default (unlimited), so the spec wants
  // NBD_INFO_BLOCK_SIZE sent even when not asked for; clients ignore it then.
  reply += EncodeOptionReply(option, kRepInfo, EncodeInfoBlockSize(config_.block_sizes));
  for (uint16_t type : request->info_types) {
    if (type == kInfoName) {
      reply += EncodeOptionReply(option, kRepInfo, EncodeInfoString(kInfoName, request->name));
    } else if (type == kInfoDescription) {
      reply += EncodeOptionReply(
          option, kRepInfo,
          EncodeInfoString(kInfoDescription, absl::StrCat("syncblock volume ", request->name)));
    }
    // NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE are already sent; unknown types
    // are ignored, as the spec requires.
  }
  reply += EncodeOptionReply(option, kRepAck);
  if (option == kOptInfo) return {std::move(reply), Next::kContinue};
  device_ = std::move(device);
  export_name_ = std::move(request->name);
  transmission_flags_ = flags;
  return {std::move(reply), Next::kTransmission};
}

}  // namespace syncblock::repl::nbd
