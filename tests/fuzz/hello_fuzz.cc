// libFuzzer target for the replication hello (replication/wire/hello.h): the
// input is a kHello or kHelloReply payload as it arrives from a peer on the
// replication port, and also the member list alone (MembersFromJson), which
// hellos and manifests embed. What a decoder accepts keeps its promises and
// survives encode -> decode unchanged, field by field; what it refuses is
// INVALID_ARGUMENT, never an exception or a crash. Any crash, sanitizer
// report or abort is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "replication/types/volume_types.h"
#include "replication/wire/hello.h"

namespace {

using namespace syncblock::repl;  // NOLINT

void ExpectInvalidArgument(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument) abort();
}

bool Same(const HelloRequest& a, const HelloRequest& b) {
  return a.volume_id == b.volume_id && a.epoch == b.epoch &&
         a.primary_node_id == b.primary_node_id && a.members == b.members &&
         a.size_bytes == b.size_bytes && a.region_size == b.region_size &&
         a.attributes == b.attributes && a.create_if_missing == b.create_if_missing &&
         a.snapshots == b.snapshots && a.data_key == b.data_key;
}

bool Same(const HelloReply& a, const HelloReply& b) {
  return a.status == b.status && a.message == b.message && a.epoch == b.epoch &&
         a.data_generation == b.data_generation && a.applied_seq == b.applied_seq &&
         a.dirty_hint == b.dirty_hint && a.snapshots == b.snapshots &&
         a.lost_unsynced == b.lost_unsynced;
}

void Hello(const std::string& text) {
  absl::StatusOr<HelloRequest> h = DecodeHello(text);
  if (!h.ok()) return ExpectInvalidArgument(h.status());
  if (!ValidVolumeId(h->volume_id) || h->epoch == 0 || h->region_size == 0) abort();
  absl::StatusOr<HelloRequest> again = DecodeHello(EncodeHello(*h));
  if (!again.ok() || !Same(*h, *again)) abort();
}

void Reply(const std::string& text) {
  absl::StatusOr<HelloReply> r = DecodeHelloReply(text);
  if (!r.ok()) return ExpectInvalidArgument(r.status());
  // Any status number is carried; mapping it to an absl::Status is total.
  (void)WireStatusToStatus(r->status, r->message);
  absl::StatusOr<HelloReply> again = DecodeHelloReply(EncodeHelloReply(*r));
  if (!again.ok() || !Same(*r, *again)) abort();
}

void Members(const std::string& text) {
  absl::StatusOr<std::vector<MemberInfo>> m = MembersFromJson(text);
  if (!m.ok()) return ExpectInvalidArgument(m.status());
  absl::StatusOr<std::vector<MemberInfo>> again = MembersFromJson(MembersToJson(*m));
  if (!again.ok() || *again != *m) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Hello(text);
  Reply(text);
  Members(text);
  return 0;
}
