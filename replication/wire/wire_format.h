// The replication protocol's frame format (version 1), documented in
// replication/doc/wire_format.md. Pure encoding and decoding, no IO, so that
// a fuzzer can drive the decoder. Thread-compatible.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace syncblock::repl {

inline constexpr uint32_t kWireMagic = 0x53425250;  // "PRBS" on the wire: 'S','B','R','P' LE
inline constexpr uint16_t kWireVersion = 1;
inline constexpr size_t kFrameHeaderSize = 56;
// Largest payload: a 32 MiB write plus slack; checksum lists of big volumes
// are sent in pieces below this.
inline constexpr uint32_t kMaxPayload = 33 * 1024 * 1024;

enum class FrameType : uint16_t {
  kHello = 1,             // primary -> replica, payload JSON (see doc)
  kHelloReply = 2,        // replica -> primary, payload JSON
  kWrite = 3,             // payload = data; offset, length
  kTrim = 4,              // offset, length; no payload
  kWriteZeroes = 5,       // offset, length; flag kFlagNoHole
  kFlush = 6,             // make everything before it durable
  kResyncData = 7,        // like kWrite, sent by resync
  kResyncDone = 8,        // seq S: the replica now holds every write <= S
  kAck = 9,               // replica -> primary: seq done; status in `status`
  kManifest = 10,         // payload JSON: members and attributes
  kChecksumRequest = 11,  // offset = first region, length = region count
  kChecksumReply = 12,    // payload = little-endian u32 CRC32C per region
  kResyncZero = 13,       // resync of a hole: offset, length, no payload
  // Snapshots (replication/doc/snapshots.md). A snapshot's name travels in the
  // payload; data frames carry it as a length-prefixed string (SnapshotDataPayload).
  kSnapshot = 14,        // payload JSON record: cut at seq, or start a full copy
  kSnapshotData = 15,    // payload = name + data for the full copy at offset, length
  kSnapshotDone = 16,    // payload = name: the full copy is complete
  kSnapshotDelete = 17,  // payload = name
  // The primary's lease (replication/doc/failover.md): renews the replica's
  // promise not to elect another primary. No payload, but to an asynchronous
  // replica it carries EncodeLagReport: its lag as the primary measures it.
  kLease = 18,
  // To a witness: the data replicas the primary acknowledges writes without
  // (failover.md, "Witness"); payload EncodeOutdated. Persisted before the
  // ack.
  kWitnessRecord = 19,
};

inline constexpr uint32_t kFlagFua = 1u << 0;
inline constexpr uint32_t kFlagNoHole = 1u << 1;

// Status codes carried by kAck (and kHelloReply's "status").
enum class WireStatus : uint32_t {
  kOk = 0,
  kStaleEpoch = 1,  // the sender's epoch is older than the replica's
  kNotFound = 2,    // no such volume on this node
  kIoError = 3,     // the replica could not apply it (disk)
  kNoSpace = 4,
  kInvalid = 5,   // malformed or out-of-range request
  kConflict = 6,  // another primary holds this epoch
};

// The one mapping between wire status codes and absl::Status, both ways:
// kNoSpace is RESOURCE_EXHAUSTED (ENOSPC to an NBD client), kIoError INTERNAL
// (EIO), kStaleEpoch and kConflict FAILED_PRECONDITION, kNotFound NOT_FOUND,
// kInvalid INVALID_ARGUMENT. `message` becomes the status's message.
absl::Status WireStatusToStatus(WireStatus s, std::string_view message);
WireStatus StatusToWireStatus(const absl::Status& s);

struct FrameHeader {
  FrameType type = FrameType::kAck;
  uint32_t flags = 0;
  uint32_t payload_len = 0;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t payload_crc = 0;
  uint32_t status = 0;
};

// Fills `out` (kFrameHeaderSize bytes) with `h`, computing the header CRC.
// `h.payload_crc` must already hold the payload's CRC32C (PayloadCrc).
void EncodeHeader(const FrameHeader& h, uint8_t* out);

// INVALID_ARGUMENT / DATA_LOSS on a bad magic, version, type, length or header
// checksum: the connection must then be dropped.
absl::StatusOr<FrameHeader> DecodeHeader(const uint8_t* in);

uint32_t PayloadCrc(std::string_view payload);
// DATA_LOSS when the payload does not match the header's checksum.
absl::Status VerifyPayload(const FrameHeader& h, std::string_view payload);

// A whole frame (header and payload) in one string, for the control-sized
// frames (hello, manifest, ack).
std::string EncodeFrame(FrameHeader h, std::string_view payload);

const char* FrameTypeName(FrameType t);

// kSnapshotData payloads: u8 name length, the name, then the data.
// The kWitnessRecord payload: node ids, one per line.
std::string EncodeOutdated(const std::set<std::string>& node_ids);
// INVALID_ARGUMENT for an empty id.
absl::StatusOr<std::set<std::string>> DecodeOutdated(std::string_view payload);

// An asynchronous replica's lag as its primary last measured it, kept by the
// replica so that a promotion accepting data loss can say what was lost
// (replication/doc/async_replicas.md). Payload: u64 ms, u64 bytes, u8 broken.
struct LagReport {
  uint64_t ms = 0;      // age of the oldest acknowledged write it lacked
  uint64_t bytes = 0;   // bytes sent and not acknowledged (broken: 0)
  bool broken = false;  // out of sync: it lacked writes since `ms` ago
};
inline constexpr size_t kLagReportSize = 17;
std::string EncodeLagReport(const LagReport& report);
// INVALID_ARGUMENT for a payload of the wrong size or a broken flag not 0/1.
absl::StatusOr<LagReport> DecodeLagReport(std::string_view payload);

std::string EncodeSnapshotData(std::string_view name, std::string_view data);
// INVALID_ARGUMENT when the payload is shorter than its name prefix says.
absl::StatusOr<std::pair<std::string_view, std::string_view>> DecodeSnapshotData(
    std::string_view payload);

}  // namespace syncblock::repl
