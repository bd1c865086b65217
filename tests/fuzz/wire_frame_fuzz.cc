// libFuzzer target for the replication protocol's decoders: the input is a
// byte stream as a replica's connection would read it (header, payload,
// header, ...). Each header goes through DecodeHeader; an accepted one must
// satisfy the limits the decoder promises and re-encode to the same bytes,
// and its payload goes through VerifyPayload and, as the hello / manifest
// JSON, through DecodeHello and DecodeHelloReply, as a lease's lag report
// through DecodeLagReport. The raw input is also fed
// to the JSON decoders directly. Any crash, sanitizer report or broken
// invariant (abort) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "replication/store/manifest.h"
#include "replication/util/crc32c.h"
#include "replication/wire/hello.h"
#include "replication/wire/wire_format.h"

namespace {

using namespace syncblock::repl;  // NOLINT

void CheckHeader(const FrameHeader& h, const uint8_t* raw) {
  if (h.payload_len > kMaxPayload) abort();
  if (h.offset + h.length < h.offset) abort();
  if ((h.type == FrameType::kWrite || h.type == FrameType::kResyncData) &&
      h.payload_len != h.length) {
    abort();
  }
  if (std::string_view(FrameTypeName(h.type)) == "unknown") abort();
  // Every byte of the header is a field: decoding loses nothing.
  uint8_t again[kFrameHeaderSize];
  EncodeHeader(h, again);
  if (std::memcmp(again, raw, kFrameHeaderSize) != 0) abort();
}

void CheckHello(const std::string& text) {
  absl::StatusOr<HelloRequest> hello = DecodeHello(text);
  if (hello.ok()) {
    if (!ValidVolumeId(hello->volume_id) || hello->epoch == 0 || hello->region_size == 0) {
      abort();  // the decoder's own promise
    }
    // What was accepted survives a round trip unchanged.
    absl::StatusOr<HelloRequest> again = DecodeHello(EncodeHello(*hello));
    if (!again.ok() || again->volume_id != hello->volume_id || again->epoch != hello->epoch ||
        again->members != hello->members || again->size_bytes != hello->size_bytes ||
        again->attributes != hello->attributes) {
      abort();
    }
  }
  absl::StatusOr<HelloReply> reply = DecodeHelloReply(text);
  if (reply.ok()) {
    absl::StatusOr<HelloReply> again = DecodeHelloReply(EncodeHelloReply(*reply));
    if (!again.ok() || again->epoch != reply->epoch || again->dirty_hint != reply->dirty_hint) {
      abort();
    }
  }
  absl::StatusOr<Manifest> manifest = ManifestFromJson(text);
  if (manifest.ok() && (manifest->region_size == 0 || !ValidVolumeId(manifest->volume_id))) {
    abort();
  }
}

// A lease's lag report: accepted exactly at its size, and it round-trips.
void CheckLagReport(std::string_view payload) {
  absl::StatusOr<LagReport> lag = DecodeLagReport(payload);
  if (lag.ok() != (payload.size() == kLagReportSize && static_cast<uint8_t>(payload[16]) <= 1)) {
    abort();
  }
  if (lag.ok() && EncodeLagReport(*lag) != payload) abort();
}

void Stream(std::string_view in) {
  while (in.size() >= kFrameHeaderSize) {
    const auto* raw = reinterpret_cast<const uint8_t*>(in.data());
    absl::StatusOr<FrameHeader> h = DecodeHeader(raw);
    if (!h.ok()) return;  // the connection would be dropped here
    CheckHeader(*h, raw);
    in.remove_prefix(kFrameHeaderSize);
    if (in.size() < h->payload_len) return;  // would wait for more bytes
    std::string_view payload = in.substr(0, h->payload_len);
    in.remove_prefix(h->payload_len);
    absl::Status verified = VerifyPayload(*h, payload);
    if (verified.ok() != (PayloadCrc(payload) == h->payload_crc)) abort();
    if (!verified.ok()) return;
    if (h->type == FrameType::kHello || h->type == FrameType::kManifest ||
        h->type == FrameType::kHelloReply) {
      CheckHello(std::string(payload));
    }
    if (h->type == FrameType::kLease && !payload.empty()) CheckLagReport(payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckHello(std::string(in));
  (void)MembersFromJson(std::string(in));
  Stream(in);
  // A fuzzer rarely finds a valid header CRC by chance: also read the input
  // as frames whose header checksum is sealed here, so the checks after it
  // are reached.
  if (size >= kFrameHeaderSize) {
    std::string sealed(in);
    auto* raw = reinterpret_cast<uint8_t*>(sealed.data());
    uint32_t magic = kWireMagic;
    uint16_t version = kWireVersion;
    std::memcpy(raw, &magic, 4);
    std::memcpy(raw + 4, &version, 2);
    uint32_t crc = syncblock::Crc32c(raw, 52);
    std::memcpy(raw + 52, &crc, 4);
    // Seal the payload checksum too, when the payload is all there.
    uint32_t payload_len;
    std::memcpy(&payload_len, raw + 12, 4);
    if (payload_len <= sealed.size() - kFrameHeaderSize) {
      uint32_t pcrc = PayloadCrc(std::string_view(sealed).substr(kFrameHeaderSize, payload_len));
      std::memcpy(raw + 44, &pcrc, 4);
      crc = syncblock::Crc32c(raw, 52);
      std::memcpy(raw + 52, &crc, 4);
    }
    Stream(sealed);
  }
  return 0;
}
