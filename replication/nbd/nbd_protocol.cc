#include "replication/nbd/nbd_protocol.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace syncblock::repl::nbd {

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void StoreU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (24 - 8 * i));
}

void StoreU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (56 - 8 * i));
}

uint16_t LoadU16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

uint32_t LoadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

uint64_t LoadU64(const char* p) { return (uint64_t{LoadU32(p)} << 32) | LoadU32(p + 4); }

std::string EncodeGreeting() {
  std::string out;
  out.reserve(kGreetingSize);
  PutU64(out, kNbdMagic);
  PutU64(out, kOptMagic);
  PutU16(out, kFlagFixedNewstyle | kFlagNoZeroes);
  return out;
}

absl::Status CheckClientFlags(uint32_t client_flags) {
  constexpr uint32_t kKnown = kClientFlagFixedNewstyle | kClientFlagNoZeroes;
  if (client_flags & ~kKnown) {
    return absl::InvalidArgumentError(
        absl::StrCat("nbd: unknown client flags 0x", absl::Hex(client_flags)));
  }
  return absl::OkStatus();
}

absl::StatusOr<OptionHeader> ParseOptionHeader(std::string_view bytes) {
  if (bytes.size() < kOptionHeaderSize) {
    return absl::InvalidArgumentError("nbd: truncated option header");
  }
  if (LoadU64(bytes.data()) != kOptMagic) {
    return absl::InvalidArgumentError("nbd: option header without IHAVEOPT magic");
  }
  OptionHeader header;
  header.option = LoadU32(bytes.data() + 8);
  header.length = LoadU32(bytes.data() + 12);
  return header;
}

absl::Status CheckExportName(std::string_view name) {
  if (name.size() > kMaxStringLength) {
    return absl::InvalidArgumentError("nbd: export name longer than 4096 bytes");
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("nbd: export name contains NUL");
  }
  return absl::OkStatus();
}

absl::StatusOr<InfoRequest> ParseInfoRequest(std::string_view data) {
  // 32-bit name length, name, 16-bit count, count x 16-bit info types.
  if (data.size() < 6) return absl::InvalidArgumentError("nbd: info request shorter than 6 bytes");
  uint64_t name_length = LoadU32(data.data());
  if (name_length > data.size() - 6) {
    return absl::InvalidArgumentError("nbd: info request name overruns the option");
  }
  InfoRequest request;
  request.name.assign(data.substr(4, name_length));
  if (absl::Status s = CheckExportName(request.name); !s.ok()) return s;
  size_t pos = 4 + name_length;
  uint16_t count = LoadU16(data.data() + pos);
  pos += 2;
  if (data.size() - pos != size_t{count} * 2) {
    return absl::InvalidArgumentError("nbd: info request count does not match the option length");
  }
  for (uint16_t i = 0; i < count; ++i, pos += 2) {
    uint16_t type = LoadU16(data.data() + pos);
    if (std::find(request.info_types.begin(), request.info_types.end(), type) ==
        request.info_types.end()) {
      request.info_types.push_back(type);
    }
  }
  return request;
}

std::string EncodeOptionReply(uint32_t option, uint32_t reply_type, std::string_view data) {
  std::string out;
  out.reserve(20 + data.size());
  PutU64(out, kOptReplyMagic);
  PutU32(out, option);
  PutU32(out, reply_type);
  PutU32(out, static_cast<uint32_t>(data.size()));
  out.append(data);
  return out;
}

std::string EncodeServerReplyData(std::string_view name) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(name.size()));
  out.append(name);
  return out;
}

std::string EncodeInfoExport(uint64_t size, uint16_t transmission_flags) {
  std::string out;
  PutU16(out, kInfoExport);
  PutU64(out, size);
  PutU16(out, transmission_flags);
  return out;
}

std::string EncodeInfoString(uint16_t info_type, std::string_view text) {
  std::string out;
  PutU16(out, info_type);
  out.append(text.substr(0, kMaxStringLength));
  return out;
}

std::string EncodeInfoBlockSize(const BlockSizes& sizes) {
  std::string out;
  PutU16(out, kInfoBlockSize);
  PutU32(out, sizes.minimum);
  PutU32(out, sizes.preferred);
  PutU32(out, sizes.maximum);
  return out;
}

std::string EncodeExportNameReply(uint64_t size, uint16_t transmission_flags, bool no_zeroes) {
  std::string out;
  PutU64(out, size);
  PutU16(out, transmission_flags);
  if (!no_zeroes) out.append(kExportNameReplyZeroes, '\0');
  return out;
}

absl::StatusOr<RequestHeader> ParseRequestHeader(std::string_view bytes) {
  if (bytes.size() < kRequestHeaderSize) {
    return absl::InvalidArgumentError("nbd: truncated request header");
  }
  if (LoadU32(bytes.data()) != kRequestMagic) {
    return absl::InvalidArgumentError("nbd: request without NBD_REQUEST_MAGIC");
  }
  RequestHeader header;
  header.flags = LoadU16(bytes.data() + 4);
  header.type = LoadU16(bytes.data() + 6);
  header.handle = LoadU64(bytes.data() + 8);
  header.offset = LoadU64(bytes.data() + 16);
  header.length = LoadU32(bytes.data() + 24);
  return header;
}

uint16_t TransmissionFlags(bool read_only, bool multi_conn) {
  uint16_t flags = kFlagHasFlags | kFlagSendFlush;
  if (read_only) {
    flags |= kFlagReadOnly;
  } else {
    flags |= kFlagSendFua | kFlagSendTrim | kFlagSendWriteZeroes;
  }
  // Every connection's FLUSH/FUA goes to the same device, which makes it
  // visible to all of them: the condition for CAN_MULTI_CONN.
  if (multi_conn) flags |= kFlagCanMultiConn;
  return flags;
}

uint32_t CheckRequest(const RequestHeader& request, const ExportLimits& limits) {
  // FUA is accepted on every command once SEND_FUA is advertised (we may
  // ignore it where nothing is written); NO_HOLE only on WRITE_ZEROES. DF,
  // REQ_ONE and FAST_ZERO belong to features we do not advertise.
  uint16_t allowed_flags = kCmdFlagFua;
  switch (request.type) {
    case kCmdRead:
    case kCmdWrite:
    case kCmdFlush:
    case kCmdTrim:
      break;
    case kCmdWriteZeroes:
      allowed_flags |= kCmdFlagNoHole;
      break;
    default:
      return kEinval;
  }
  if (request.flags & ~allowed_flags) return kEinval;
  if (request.type == kCmdFlush) return 0;

  bool writes = request.type != kCmdRead;
  if (writes && limits.read_only) return kEperm;
  // TRIM's length is not bounded by the maximum block size (the spec limits
  // READ, WRITE and WRITE_ZEROES only).
  if (request.type != kCmdTrim && request.length > limits.max_block) return kEinval;
  bool past_end = request.offset > limits.size || request.length > limits.size - request.offset;
  if (past_end) {
    return (request.type == kCmdWrite || request.type == kCmdWriteZeroes) ? kEnospc : kEinval;
  }
  return 0;
}

uint32_t ErrorFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kInvalidArgument:
      return kEinval;
    case absl::StatusCode::kResourceExhausted:
      return kEnospc;
    case absl::StatusCode::kPermissionDenied:
      return kEperm;
    case absl::StatusCode::kUnimplemented:
      return kEnotsup;
    case absl::StatusCode::kFailedPrecondition:
      // This node is no longer the volume's primary (its engine was fenced
      // or demoted; block_device.h). ESHUTDOWN, not EIO: the request was not
      // refused by a healthy primary, and a client that follows the primary
      // (the node plugin's FUSE export) resends it to the new one.
      return kEshutdown;
    default:
      return kEio;
  }
}

absl::Status StatusFromError(uint32_t error, const std::string& what) {
  switch (error) {
    case 0:
      return absl::OkStatus();
    case kEperm:
      return absl::PermissionDeniedError(what);
    case kEnospc:
      return absl::ResourceExhaustedError(what);
    case kEinval:
    case kEoverflow:
      return absl::InvalidArgumentError(what);
    case kEnotsup:
      return absl::UnimplementedError(what);
    case kEshutdown:
      return absl::FailedPreconditionError(what);
    default:
      return absl::DataLossError(what);  // EIO, ENOMEM and anything unknown
  }
}

void EncodeSimpleReply(uint32_t error, uint64_t handle, char* out) {
  StoreU32(out, kSimpleReplyMagic);
  StoreU32(out + 4, error);
  StoreU64(out + 8, handle);
}

std::string EncodeOption(uint32_t option, std::string_view data) {
  std::string out;
  out.reserve(kOptionHeaderSize + data.size());
  PutU64(out, kOptMagic);
  PutU32(out, option);
  PutU32(out, static_cast<uint32_t>(data.size()));
  out.append(data);
  return out;
}

std::string EncodeInfoRequest(std::string_view name, const std::vector<uint16_t>& info_types) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(name.size()));
  out.append(name);
  PutU16(out, static_cast<uint16_t>(info_types.size()));
  for (uint16_t type : info_types) PutU16(out, type);
  return out;
}

absl::StatusOr<OptionReplyHeader> ParseOptionReplyHeader(std::string_view bytes) {
  if (bytes.size() < kOptionReplyHeaderSize) {
    return absl::InvalidArgumentError("nbd: truncated option reply header");
  }
  if (LoadU64(bytes.data()) != kOptReplyMagic) {
    return absl::InvalidArgumentError("nbd: bad option reply magic");
  }
  OptionReplyHeader header;
  header.option = LoadU32(bytes.data() + 8);
  header.type = LoadU32(bytes.data() + 12);
  header.length = LoadU32(bytes.data() + 16);
  return header;
}

absl::StatusOr<InfoReply> ParseInfoReply(std::string_view data) {
  if (data.size() < 2) return absl::InvalidArgumentError("nbd: NBD_REP_INFO without a type");
  InfoReply info;
  info.type = LoadU16(data.data());
  if (info.type == kInfoExport) {
    if (data.size() < 12) return absl::InvalidArgumentError("nbd: short NBD_INFO_EXPORT");
    info.size = LoadU64(data.data() + 2);
    info.transmission_flags = LoadU16(data.data() + 10);
  } else if (info.type == kInfoBlockSize) {
    if (data.size() < 14) return absl::InvalidArgumentError("nbd: short NBD_INFO_BLOCK_SIZE");
    info.block_sizes.minimum = LoadU32(data.data() + 2);
    info.block_sizes.preferred = LoadU32(data.data() + 6);
    info.block_sizes.maximum = LoadU32(data.data() + 10);
  }
  return info;
}

std::string EncodeRequestHeader(const RequestHeader& request) {
  std::string out;
  out.reserve(kRequestHeaderSize);
  PutU32(out, kRequestMagic);
  PutU16(out, request.flags);
  PutU16(out, request.type);
  PutU64(out, request.handle);
  PutU64(out, request.offset);
  PutU32(out, request.length);
  return out;
}

absl::StatusOr<SimpleReply> ParseSimpleReply(std::string_view bytes) {
  if (bytes.size() < kSimpleReplySize) {
    return absl::InvalidArgumentError("nbd: truncated simple reply");
  }
  if (LoadU32(bytes.data()) != kSimpleReplyMagic) {
    return absl::InvalidArgumentError("nbd: bad simple reply magic (structured reply?)");
  }
  return SimpleReply{LoadU32(bytes.data() + 4), LoadU64(bytes.data() + 8)};
}

const char* CommandName(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return "READ";
    case kCmdWrite:
      return "WRITE";
    case kCmdDisc:
      return "DISC";
    case kCmdFlush:
      return "FLUSH";
    case kCmdTrim:
      return "TRIM";
    case kCmdCache:
      return "CACHE";
    case kCmdWriteZeroes:
      return "WRITE_ZEROES";
    case kCmdBlockStatus:
      return "BLOCK_STATUS";
    default:
      return "UNKNOWN";
  }
}

}  // namespace syncblock::repl::nbd
