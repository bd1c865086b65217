// libFuzzer target for a replica's manifest (replication/store/manifest.h):
// the input is a manifest.json as a storage node reads it from disk. What
// ManifestFromJson accepts must keep the decoder's promises (current format
// version, a region size, a valid volume id) and survive ManifestToJson ->
// ManifestFromJson unchanged, field by field; what it refuses must be
// DATA_LOSS (corrupt) or FAILED_PRECONDITION (newer format), never an
// exception or a crash. Any crash, sanitizer report or abort is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "replication/store/manifest.h"

namespace {

using namespace syncblock::repl;  // NOLINT

bool Same(const Manifest& a, const Manifest& b) {
  return a.format_version == b.format_version && a.volume_id == b.volume_id &&
         a.size_bytes == b.size_bytes && a.region_size == b.region_size && a.epoch == b.epoch &&
         a.primary_node_id == b.primary_node_id && a.members == b.members &&
         a.data_generation == b.data_generation && a.member_generations == b.member_generations &&
         a.checksum_resync == b.checksum_resync && a.consistent == b.consistent &&
         a.primary_confirmed == b.primary_confirmed && a.attributes == b.attributes &&
         a.boot_id == b.boot_id && a.primary_since_unix_ms == b.primary_since_unix_ms &&
         a.last_failover_unix_ms == b.last_failover_unix_ms &&
         a.last_failover_from == b.last_failover_from &&
         a.last_failover_reason == b.last_failover_reason && a.outdated == b.outdated;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Manifest> m = ManifestFromJson(text);
  if (!m.ok()) {
    if (m.status().code() != absl::StatusCode::kDataLoss &&
        m.status().code() != absl::StatusCode::kFailedPrecondition) {
      abort();  // the header promises these two codes only
    }
    return 0;
  }
  if (m->format_version != kManifestFormatVersion || m->region_size == 0 ||
      !ValidVolumeId(m->volume_id)) {
    abort();
  }
  const std::string again_text = ManifestToJson(*m);
  absl::StatusOr<Manifest> again = ManifestFromJson(again_text);
  if (!again.ok() || !Same(*m, *again)) abort();
  // The encoding is canonical: a second round writes the same bytes.
  if (ManifestToJson(*again) != again_text) abort();
  // The derived values are safe to compute on anything accepted.
  (void)m->regions();
  (void)m->Quorum();
  for (const MemberInfo& member : m->members) {
    if (m->FindMember(member.node_id) == nullptr) abort();
    (void)m->IsWitness(member.node_id);
  }
  return 0;
}
