// The NBD wire format, as the NBD protocol document (NetworkBlockDevice/nbd,
// doc/proto.md) defines it, for both ends: constants, parsing of what clients
// send (option headers, NBD_OPT_INFO/GO data, request headers) and encoding
// of what the server sends (greeting, option replies, NBD_REP_INFO payloads,
// simple replies), and the reverse for the initiator's own handshake
// (replication/initiator/nbd_client.h, the one the kernel attach uses) and
// the tests that play a client. The one place the wire constants are written.
// No sockets and no state here, so a fuzzer can drive every function.
//
// Every function is pure and thread-safe. Parsers never trust a length field:
// they check it against the bytes actually given and return an error status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace syncblock::repl::nbd {

// Magic numbers.
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;       // "NBDMAGIC"
inline constexpr uint64_t kOptMagic = 0x49484156454F5054ULL;       // "IHAVEOPT"
inline constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9ULL;  // option replies
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1 << 1;

// Transmission flags.
inline constexpr uint16_t kFlagHasFlags = 1 << 0;
inline constexpr uint16_t kFlagReadOnly = 1 << 1;
inline constexpr uint16_t kFlagSendFlush = 1 << 2;
inline constexpr uint16_t kFlagSendFua = 1 << 3;
inline constexpr uint16_t kFlagRotational = 1 << 4;
inline constexpr uint16_t kFlagSendTrim = 1 << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kFlagSendDf = 1 << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1 << 8;
inline constexpr uint16_t kFlagSendCache = 1 << 10;
inline constexpr uint16_t kFlagSendFastZero = 1 << 11;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;

// Option reply types.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepErrBit = 1u << 31;
inline constexpr uint32_t kRepErrUnsup = kRepErrBit | 1;
inline constexpr uint32_t kRepErrPolicy = kRepErrBit | 2;
inline constexpr uint32_t kRepErrInvalid = kRepErrBit | 3;
inline constexpr uint32_t kRepErrPlatform = kRepErrBit | 4;
inline constexpr uint32_t kRepErrTlsReqd = kRepErrBit | 5;
inline constexpr uint32_t kRepErrUnknown = kRepErrBit | 6;
inline constexpr uint32_t kRepErrShutdown = kRepErrBit | 7;
inline constexpr uint32_t kRepErrBlockSizeReqd = kRepErrBit | 8;
inline constexpr uint32_t kRepErrTooBig = kRepErrBit | 9;

// NBD_REP_INFO types.
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// Commands.
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdCache = 5;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdBlockStatus = 7;

// Command flags.
inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr uint16_t kCmdFlagDf = 1 << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1 << 4;

// Error values of the transmission phase.
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEnomem = 12;
inline constexpr uint32_t kEinval = 22;
inline constexpr uint32_t kEnospc = 28;
inline constexpr uint32_t kEoverflow = 75;
inline constexpr uint32_t kEnotsup = 95;
inline constexpr uint32_t kEshutdown = 108;

// Sizes of fixed wire structures.
inline constexpr size_t kGreetingSize = 18;  // NBDMAGIC, IHAVEOPT, flags
inline constexpr size_t kClientFlagsSize = 4;
inline constexpr size_t kOptionHeaderSize = 16;       // magic, option, length
inline constexpr size_t kOptionReplyHeaderSize = 20;  // magic, option, type, length
inline constexpr size_t kRequestHeaderSize = 28;
inline constexpr size_t kSimpleReplySize = 16;
inline constexpr size_t kExportNameReplyZeroes = 124;

// The spec's limit on strings (export names, messages).
inline constexpr size_t kMaxStringLength = 4096;

// The block size constraints we advertise (NBD_INFO_BLOCK_SIZE).
struct BlockSizes {
  uint32_t minimum = 1;
  uint32_t preferred = 4096;
  uint32_t maximum = 32u << 20;
};

// --- Big-endian helpers -----------------------------------------------------

void PutU16(std::string& out, uint16_t v);
void PutU32(std::string& out, uint32_t v);
void PutU64(std::string& out, uint64_t v);
void StoreU32(char* out, uint32_t v);
void StoreU64(char* out, uint64_t v);
uint16_t LoadU16(const char* p);
uint32_t LoadU32(const char* p);
uint64_t LoadU64(const char* p);

// --- Handshake ----------------------------------------------------------------

// S: NBDMAGIC, IHAVEOPT, handshake flags (FIXED_NEWSTYLE | NO_ZEROES).
std::string EncodeGreeting();

// Validates the client flags: only FIXED_NEWSTYLE and NO_ZEROES may be set
// (the spec obliges the server to drop the connection otherwise).
absl::Status CheckClientFlags(uint32_t client_flags);

struct OptionHeader {
  uint32_t option = 0;
  uint32_t length = 0;
};
// Parses the 16-byte "IHAVEOPT, option, length" header; `bytes` must hold at
// least kOptionHeaderSize bytes. Wrong magic -> INVALID_ARGUMENT.
absl::StatusOr<OptionHeader> ParseOptionHeader(std::string_view bytes);

// The data of NBD_OPT_INFO and NBD_OPT_GO: name length, name, count, requests.
struct InfoRequest {
  std::string name;
  std::vector<uint16_t> info_types;  // as sent, duplicates removed
};
// INVALID_ARGUMENT when the lengths are inconsistent with `data`, or the name
// is not a valid NBD string (too long, or contains NUL).
absl::StatusOr<InfoRequest> ParseInfoRequest(std::string_view data);

// Checks an export name from NBD_OPT_EXPORT_NAME or NBD_OPT_INFO/GO.
absl::Status CheckExportName(std::string_view name);

// S: option reply magic, option, reply type, length, data.
std::string EncodeOptionReply(uint32_t option, uint32_t reply_type, std::string_view data = {});
// NBD_REP_SERVER payload: name length, name.
std::string EncodeServerReplyData(std::string_view name);
// NBD_REP_INFO payloads.
std::string EncodeInfoExport(uint64_t size, uint16_t transmission_flags);
std::string EncodeInfoString(uint16_t info_type, std::string_view text);
std::string EncodeInfoBlockSize(const BlockSizes& sizes);
// The reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zeroes unless the
// client negotiated NBD_FLAG_C_NO_ZEROES.
std::string EncodeExportNameReply(uint64_t size, uint16_t transmission_flags, bool no_zeroes);

// --- Transmission ---------------------------------------------------------------

struct RequestHeader {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t handle = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};
// Parses the 28-byte request header; `bytes` must hold at least
// kRequestHeaderSize bytes. Wrong magic -> INVALID_ARGUMENT (the stream
// cannot be resynchronised: the caller closes the connection).
absl::StatusOr<RequestHeader> ParseRequestHeader(std::string_view bytes);

// What the server knows about the export a connection uses.
struct ExportLimits {
  uint64_t size = 0;
  bool read_only = false;
  uint32_t max_block = 32u << 20;
};

// The transmission flags we advertise for an export.
uint16_t TransmissionFlags(bool read_only, bool multi_conn);

// Validates a request against the spec before it reaches the device. Returns 0
// when the request may be executed, else the NBD error to reply with:
// unknown command or flag, or a length over the maximum -> EINVAL; past the
// end -> ENOSPC for WRITE/WRITE_ZEROES, EINVAL for READ/TRIM; a write to a
// read-only export -> EPERM. NBD_CMD_DISC is not validated here.
uint32_t CheckRequest(const RequestHeader& request, const ExportLimits& limits);

// Maps a device status (see IoRequest::status) to the NBD error value. The
// initiator also answers its callers (FUSE) with it: NBD error values are
// Linux errno numbers.
uint32_t ErrorFromStatus(const absl::Status& status);
// The inverse, for a client: a server's NBD error value as a status that
// ErrorFromStatus turns back into the same value (EIO and unknown values ->
// DATA_LOSS; ESHUTDOWN -> FAILED_PRECONDITION, which a client that follows
// the primary treats as a lost connection before it gets here).
absl::Status StatusFromError(uint32_t error, const std::string& what);

// S: simple reply magic, error, handle, into `out` (kSimpleReplySize bytes).
void EncodeSimpleReply(uint32_t error, uint64_t handle, char* out);

// --- The client's side ----------------------------------------------------------

// C: IHAVEOPT, option, length, data.
std::string EncodeOption(uint32_t option, std::string_view data = {});
// The data of NBD_OPT_INFO/GO: the inverse of ParseInfoRequest.
std::string EncodeInfoRequest(std::string_view name, const std::vector<uint16_t>& info_types);

struct OptionReplyHeader {
  uint32_t option = 0;
  uint32_t type = 0;
  uint32_t length = 0;
};
// Parses the 20-byte option reply header; wrong magic or too few bytes ->
// INVALID_ARGUMENT.
absl::StatusOr<OptionReplyHeader> ParseOptionReplyHeader(std::string_view bytes);

// An NBD_REP_INFO payload: its type, and the fields of the two we read.
struct InfoReply {
  uint16_t type = 0;
  uint64_t size = 0;                // kInfoExport
  uint16_t transmission_flags = 0;  // kInfoExport
  BlockSizes block_sizes;           // kInfoBlockSize
};
// INVALID_ARGUMENT when the payload is shorter than its type requires.
absl::StatusOr<InfoReply> ParseInfoReply(std::string_view data);

// C: the 28-byte request header.
std::string EncodeRequestHeader(const RequestHeader& request);

struct SimpleReply {
  uint32_t error = 0;
  uint64_t handle = 0;
};
// Parses the 16-byte simple reply; wrong magic (a structured reply) or too
// few bytes -> INVALID_ARGUMENT.
absl::StatusOr<SimpleReply> ParseSimpleReply(std::string_view bytes);

// Names for logs.
const char* CommandName(uint16_t type);

}  // namespace syncblock::repl::nbd
