// Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from
// the real encoders, so the seeds are what our own code sends and stores.
// Not part of the build's default targets nor of ctest; run it when a format
// changes, and check the result in:
//   cmake --build build --target fuzz_make_seeds && build/tests/fuzz/fuzz_make_seeds
//   tests/fuzz/corpus
// Regression inputs (corpus/<target>/regress-*) are written by hand, not here.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "replication/nbd/nbd_protocol.h"
#include "replication/store/manifest.h"
#include "replication/store/snapshot_index.h"
#include "replication/wire/hello.h"
#include "replication/wire/snapshot_record.h"
#include "replication/wire/wire_format.h"

namespace {

using namespace syncblock::repl;  // NOLINT
namespace fs = std::filesystem;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

std::vector<MemberInfo> Members() {
  MemberInfo witness{"node-3", "10.0.0.3:7000", "10.0.0.3:7001", "", "zone-c"};
  witness.witness = true;
  return {{"node-1", "10.0.0.1:7000", "10.0.0.1:7001", "10.0.0.1:10809", "zone-a"},
          {"node-2", "10.0.0.2:7000", "10.0.0.2:7001", "10.0.0.2:10809", "zone-b"},
          witness};
}

void ManifestSeeds() {
  Manifest plain;
  plain.volume_id = "pvc-1";
  plain.size_bytes = 1 << 30;
  plain.primary_node_id = "node-1";
  plain.members = {Members()[0]};
  plain.data_generation = "gen-1";
  Write("manifest_fuzz", "single", ManifestToJson(plain));

  Manifest full = plain;
  full.members = Members();
  full.epoch = 9;
  full.region_size = 1 << 20;
  full.member_generations = {{"node-2", "gen-1"}};
  full.checksum_resync = {"node-2"};
  full.consistent = false;
  full.primary_confirmed = false;
  full.attributes = {{"syncMode", "sync"}, {"encrypted", "false"}};
  full.boot_id = "0d2f1e7c-boot";
  full.primary_since_unix_ms = 1764900000000;
  full.last_failover_unix_ms = 1764900000000;
  full.last_failover_from = "node-2";
  full.last_failover_reason = "lease expired";
  full.outdated = {"node-2"};
  Write("manifest_fuzz", "witness-full", ManifestToJson(full));

  Manifest v1 = plain;
  v1.format_version = 1;
  Write("manifest_fuzz", "v1", ManifestToJson(v1));
}

void HelloSeeds() {
  HelloRequest h;
  h.volume_id = "pvc-1";
  h.epoch = 3;
  h.primary_node_id = "node-1";
  h.members = Members();
  h.size_bytes = 1 << 30;
  h.region_size = 64 * 1024;
  h.attributes = {{"syncMode", "sync"}};
  Write("hello_fuzz", "hello", EncodeHello(h));
  h.snapshots = std::vector<std::string>{"snap-1", "snap-2"};
  h.create_if_missing = false;
  Write("hello_fuzz", "hello-snapshots", EncodeHello(h));

  HelloReply r;
  r.epoch = 3;
  r.data_generation = "gen-1";
  r.applied_seq = 42;
  r.dirty_hint = {1, 7, 4096};
  r.snapshots = {"snap-1"};
  r.lost_unsynced = true;
  Write("hello_fuzz", "reply", EncodeHelloReply(r));
  HelloReply stale;
  stale.status = WireStatus::kStaleEpoch;
  stale.message = "epoch 2 is older than 3";
  stale.epoch = 3;
  Write("hello_fuzz", "reply-stale", EncodeHelloReply(stale));
  Write("hello_fuzz", "members", MembersToJson(Members()));
}

void SnapshotSeeds() {
  SnapshotRecord cut{"snap-1", 1 << 30, 1234, 1764900000000, false, true};
  SnapshotRecord copy{"snap-2", 1 << 30, 0, 1764900000001, true, false};
  Write("snapshot_record_fuzz", "record-cut", EncodeSnapshotRecord(cut));
  Write("snapshot_record_fuzz", "record-materialized", EncodeSnapshotRecord(copy));
  Write("snapshot_record_fuzz", "index-empty", SnapshotIndexToJson({}));
  Write("snapshot_record_fuzz", "index-two", SnapshotIndexToJson({{cut, false}, {copy, true}}));
  Write("snapshot_record_fuzz", "data", EncodeSnapshotData("snap-2", std::string(64, 'x')));
}

void WitnessSeeds() {
  Write("witness_record_fuzz", "empty-record", EncodeOutdated({}));
  Write("witness_record_fuzz", "record", EncodeOutdated({"node-1", "node-2"}));
  // Operation streams (witness_record_fuzz.cc's Reader): send, ack,
  // send twice, ack, reset, send, resend.
  Write("witness_record_fuzz", "ops",
        std::string("\x00\x03\x00\x00"  // send {a,b}
                    "\x01\x00"          // ack it
                    "\x00\x02\x00\x00"  // send {b}
                    "\x00\x06\x00\x00"  // send {b,c}
                    "\x01\x00"          // ack the last
                    "\x02"              // reset
                    "\x00\x01\x00\x00"  // send {a}
                    "\x03\x05",         // a resend is asked for
                    23));
}

std::string Frame(FrameType type, std::string_view payload, uint64_t seq) {
  FrameHeader h;
  h.type = type;
  h.epoch = 3;
  h.seq = seq;
  return EncodeFrame(h, payload);
}

void WireSeeds() {
  HelloRequest h;
  h.volume_id = "pvc-1";
  h.epoch = 3;
  h.primary_node_id = "node-1";
  h.members = Members();
  h.size_bytes = 1 << 20;
  h.region_size = 64 * 1024;
  std::string stream = Frame(FrameType::kHello, EncodeHello(h), 0);
  FrameHeader w;
  w.type = FrameType::kWrite;
  w.epoch = 3;
  w.seq = 1;
  w.offset = 4096;
  w.length = 16;
  stream += EncodeFrame(w, std::string(16, 'd'));
  stream += Frame(FrameType::kFlush, "", 2);
  stream += Frame(FrameType::kWitnessRecord, EncodeOutdated({"node-2"}), 3);
  stream += Frame(FrameType::kLease, "", 4);
  stream += Frame(FrameType::kLease, EncodeLagReport({12, 49152, false}), 5);
  Write("wire_frame_fuzz", "stream", stream);
  HelloReply r;
  r.epoch = 3;
  Write("wire_frame_fuzz", "hello-reply", Frame(FrameType::kHelloReply, EncodeHelloReply(r), 0));
  SnapshotRecord cut{"snap-1", 1 << 20, 5, 1764900000000, false, true};
  Write("wire_frame_fuzz", "snapshot", Frame(FrameType::kSnapshot, EncodeSnapshotRecord(cut), 5));
}

void NbdProtocolSeeds() {
  using namespace syncblock::repl::nbd;  // NOLINT
  std::string flags;
  PutU32(flags, kClientFlagFixedNewstyle | kClientFlagNoZeroes);
  std::string go = flags + EncodeOption(kOptList) +
                   EncodeOption(kOptInfo, EncodeInfoRequest("vol", {kInfoBlockSize})) +
                   EncodeOption(kOptGo, EncodeInfoRequest("vol", {kInfoName, kInfoBlockSize}));
  RequestHeader write{kCmdFlagFua, kCmdWrite, 1, 0, 8};
  go += EncodeRequestHeader(write) + std::string(8, 'w');
  RequestHeader read{0, kCmdRead, 2, 512, 4096};
  go += EncodeRequestHeader(read);
  RequestHeader flush{0, kCmdFlush, 3, 0, 0};
  go += EncodeRequestHeader(flush);
  RequestHeader disc{0, kCmdDisc, 4, 0, 0};
  go += EncodeRequestHeader(disc);
  Write("nbd_protocol_fuzz", "go-session", go);
  Write("nbd_protocol_fuzz", "export-name", flags + EncodeOption(kOptExportName, "ro"));
  Write("nbd_protocol_fuzz", "starttls-abort",
        flags + EncodeOption(kOptStartTls) + EncodeOption(kOptAbort));
}

// nbd_handshake_fuzz.cc's input grammar: a setup byte, a client-flags pick,
// then per option: a pick (index into its option table), a data mode, the
// data's fields, and a length byte (0xff: a raw length follows).
void NbdHandshakeSeeds() {
  auto opt = [](uint8_t pick, std::string fields) {
    return std::string(1, static_cast<char>(pick)) + fields + std::string(1, '\0');
  };
  // Indexes into kOptions: 0 EXPORT_NAME, 1 ABORT, 2 LIST, 3 STARTTLS, 4 INFO, 5 GO.
  const std::string info_vol = std::string("\x01\x00\x01\x01\x03", 5);  // mode 1, "vol", [3]
  const std::string info_ro = std::string("\x01\x01\x01\x01\x03", 5);   // mode 1, "ro", [3]
  const std::string no_data(1, '\0');
  Write("nbd_handshake_fuzz", "list-info-go",
        std::string("\x01\x01", 2) + opt(2, no_data) + opt(4, info_ro) + opt(5, info_vol));
  Write("nbd_handshake_fuzz", "starttls-then-go",
        std::string("\x01\x00", 2) + opt(3, no_data) + opt(5, info_vol));
  Write("nbd_handshake_fuzz", "export-name",
        std::string("\x00\x01", 2) + opt(0, std::string("\x01\x01\x00", 3)));
  Write("nbd_handshake_fuzz", "refused",
        std::string("\x02\x00", 2) + opt(4, info_vol) + opt(1, no_data));
  Write("nbd_handshake_fuzz", "unknown-options",
        std::string("\x01\x00", 2) + opt(6, no_data) + opt(7, no_data) + opt(8, no_data) +
            opt(9, no_data) + opt(10, no_data) + opt(1, no_data));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  ManifestSeeds();
  HelloSeeds();
  SnapshotSeeds();
  WitnessSeeds();
  WireSeeds();
  NbdProtocolSeeds();
  NbdHandshakeSeeds();
  return 0;
}
