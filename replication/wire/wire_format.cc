#include "replication/wire/wire_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/crc32c.h"

namespace syncblock::repl {
namespace {

// Fixed little-endian layout; x86 and arm64 are little-endian, and memcpy keeps
// it free of alignment assumptions.
template <typename T>
void Put(uint8_t* out, size_t at, T v) {
  std::memcpy(out + at, &v, sizeof(T));
}
template <typename T>
T Get(const uint8_t* in, size_t at) {
  T v;
  std::memcpy(&v, in + at, sizeof(T));
  return v;
}

constexpr size_t kCrcOffset = 52;  // header CRC covers bytes [0, 52)

bool KnownType(uint16_t t) { return t >= 1 && t <= 19; }

}  // namespace

void EncodeHeader(const FrameHeader& h, uint8_t* out) {
  Put<uint32_t>(out, 0, kWireMagic);
  Put<uint16_t>(out, 4, kWireVersion);
  Put<uint16_t>(out, 6, static_cast<uint16_t>(h.type));
  Put<uint32_t>(out, 8, h.flags);
  Put<uint32_t>(out, 12, h.payload_len);
  Put<uint64_t>(out, 16, h.epoch);
  Put<uint64_t>(out, 24, h.seq);
  Put<uint64_t>(out, 32, h.offset);
  Put<uint32_t>(out, 40, h.length);
  Put<uint32_t>(out, 44, h.payload_crc);
  Put<uint32_t>(out, 48, h.status);
  Put<uint32_t>(out, kCrcOffset, Crc32c(out, kCrcOffset));
}

absl::StatusOr<FrameHeader> DecodeHeader(const uint8_t* in) {
  if (Get<uint32_t>(in, 0) != kWireMagic) {
    return absl::InvalidArgumentError("replication frame: bad magic");
  }
  uint16_t version = Get<uint16_t>(in, 4);
  if (version != kWireVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("replication frame: unsupported version ", version));
  }
  if (Get<uint32_t>(in, kCrcOffset) != Crc32c(in, kCrcOffset)) {
    return absl::DataLossError("replication frame: header checksum mismatch");
  }
  uint16_t type = Get<uint16_t>(in, 6);
  if (!KnownType(type)) {
    return absl::InvalidArgumentError(absl::StrCat("replication frame: unknown type ", type));
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.flags = Get<uint32_t>(in, 8);
  h.payload_len = Get<uint32_t>(in, 12);
  h.epoch = Get<uint64_t>(in, 16);
  h.seq = Get<uint64_t>(in, 24);
  h.offset = Get<uint64_t>(in, 32);
  h.length = Get<uint32_t>(in, 40);
  h.payload_crc = Get<uint32_t>(in, 44);
  h.status = Get<uint32_t>(in, 48);
  if (h.payload_len > kMaxPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("replication frame: payload of ", h.payload_len, " bytes is too large"));
  }
  if ((h.type == FrameType::kWrite || h.type == FrameType::kResyncData) &&
      h.payload_len != h.length) {
    return absl::InvalidArgumentError("replication frame: write length and payload differ");
  }
  if (h.type == FrameType::kSnapshotData && h.payload_len < uint64_t{h.length} + 2) {
    return absl::InvalidArgumentError("replication frame: snapshot data shorter than its length");
  }
  if (h.offset + h.length < h.offset) {
    return absl::InvalidArgumentError("replication frame: offset + length overflows");
  }
  return h;
}

uint32_t PayloadCrc(std::string_view payload) { return Crc32c(payload.data(), payload.size()); }

absl::Status VerifyPayload(const FrameHeader& h, std::string_view payload) {
  if (payload.size() != h.payload_len || PayloadCrc(payload) != h.payload_crc) {
    return absl::DataLossError(absl::StrCat("replication frame (", FrameTypeName(h.type), ", seq ",
                                            h.seq, "): payload checksum mismatch"));
  }
  return absl::OkStatus();
}

std::string EncodeFrame(FrameHeader h, std::string_view payload) {
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.payload_crc = PayloadCrc(payload);
  std::string out(kFrameHeaderSize + payload.size(), '\0');
  EncodeHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  std::memcpy(out.data() + kFrameHeaderSize, payload.data(), payload.size());
  return out;
}

const char* FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kHello:
      return "hello";
    case FrameType::kHelloReply:
      return "hello-reply";
    case FrameType::kWrite:
      return "write";
    case FrameType::kTrim:
      return "trim";
    case FrameType::kWriteZeroes:
      return "write-zeroes";
    case FrameType::kFlush:
      return "flush";
    case FrameType::kResyncData:
      return "resync-data";
    case FrameType::kResyncDone:
      return "resync-done";
    case FrameType::kAck:
      return "ack";
    case FrameType::kManifest:
      return "manifest";
    case FrameType::kChecksumRequest:
      return "checksum-request";
    case FrameType::kChecksumReply:
      return "checksum-reply";
    case FrameType::kResyncZero:
      return "resync-zero";
    case FrameType::kSnapshot:
      return "snapshot";
    case FrameType::kSnapshotData:
      return "snapshot-data";
    case FrameType::kSnapshotDone:
      return "snapshot-done";
    case FrameType::kSnapshotDelete:
      return "snapshot-delete";
    case FrameType::kLease:
      return "lease";
    case FrameType::kWitnessRecord:
      return "witness-record";
  }
  return "unknown";
}

std::string EncodeOutdated(const std::set<std::string>& node_ids) {
  std::string out;
  for (const auto& id : node_ids) absl::StrAppend(&out, id, "\n");
  return out;
}

absl::StatusOr<std::set<std::string>> DecodeOutdated(std::string_view payload) {
  std::set<std::string> out;
  size_t start = 0;
  while (start < payload.size()) {
    size_t end = payload.find('\n', start);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError("witness record: the last node id is not terminated");
    }
    if (end == start) return absl::InvalidArgumentError("witness record: an empty node id");
    out.emplace(payload.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string EncodeLagReport(const LagReport& report) {
  std::string out(kLagReportSize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  Put<uint64_t>(p, 0, report.ms);
  Put<uint64_t>(p, 8, report.bytes);
  p[16] = report.broken ? 1 : 0;
  return out;
}

absl::StatusOr<LagReport> DecodeLagReport(std::string_view payload) {
  if (payload.size() != kLagReportSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("lag report of ", payload.size(), " bytes; it has ", kLagReportSize));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  if (p[16] > 1) return absl::InvalidArgumentError("lag report: broken flag is neither 0 nor 1");
  LagReport r;
  r.ms = Get<uint64_t>(p, 0);
  r.bytes = Get<uint64_t>(p, 8);
  r.broken = p[16] == 1;
  return r;
}

std::string EncodeSnapshotData(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(1 + name.size() + data.size());
  out.push_back(static_cast<char>(static_cast<uint8_t>(name.size())));
  out.append(name.substr(0, 255));
  out.append(data);
  return out;
}

absl::StatusOr<std::pair<std::string_view, std::string_view>> DecodeSnapshotData(
    std::string_view payload) {
  if (payload.empty()) return absl::InvalidArgumentError("snapshot data: empty payload");
  size_t n = static_cast<uint8_t>(payload[0]);
  if (n == 0 || payload.size() < 1 + n) {
    return absl::InvalidArgumentError("snapshot data: bad name prefix");
  }
  return std::make_pair(payload.substr(1, n), payload.substr(1 + n));
}

absl::Status WireStatusToStatus(WireStatus s, std::string_view message) {
  switch (s) {
    case WireStatus::kOk:
      return absl::OkStatus();
    case WireStatus::kStaleEpoch:
    case WireStatus::kConflict:
      return absl::FailedPreconditionError(std::string(message));
    case WireStatus::kNotFound:
      return absl::NotFoundError(std::string(message));
    case WireStatus::kNoSpace:
      return absl::ResourceExhaustedError(std::string(message));
    case WireStatus::kInvalid:
      return absl::InvalidArgumentError(std::string(message));
    case WireStatus::kIoError:
      break;
  }
  return absl::InternalError(std::string(message));
}

WireStatus StatusToWireStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return WireStatus::kOk;
    case absl::StatusCode::kResourceExhausted:
      return WireStatus::kNoSpace;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return WireStatus::kInvalid;
    case absl::StatusCode::kNotFound:
      return WireStatus::kNotFound;
    case absl::StatusCode::kFailedPrecondition:
      return WireStatus::kInvalid;
    default:
      return WireStatus::kIoError;
  }
}

}  // namespace syncblock::repl
