#include "replication/remote/remote_promotion.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "replication/remote/nbd_chunk_sink.h"
#include "replication/remote/remote_sync_cycle.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/clock.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::StatusOr<RemotePromotion> PromoteRemoteTarget(StorageCluster& cluster,
                                                    const std::string& volume_id,
                                                    const std::string& snapshot,
                                                    const RemotePromotionOptions& options) {
  ASSIGN_OR_RETURN(VolumeView volume, cluster.GetVolume(volume_id));
  RemotePromotion out;

  auto promoted = volume.attributes.find(kAttrRemotePromotedFrom);
  auto promoting = volume.attributes.find(kAttrRemotePromoting);
  const bool marked = volume.attributes.count(kAttrRemoteSourceId) != 0;
  if (!marked && promoted == volume.attributes.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(volume_id, " is not the target of a remote sync: nothing to promote"));
  }
  // kAttrRemotePromoting holds the snapshot asked for ("" for the newest)
  // until one is chosen, then the one chosen.
  std::string wanted = snapshot;
  if (!marked) {
    // Promoted already, or a promotion stopped half-way: a retry.
    const std::string& from = promoted->second;
    const std::string had = from.substr(from.find('@') + 1);
    out.source_volume = from.substr(0, from.find('@'));
    if (promoting == volume.attributes.end()) {
      if (!snapshot.empty() && snapshot != had) {
        return absl::FailedPreconditionError(absl::StrCat(
            volume_id, " was promoted already, from ", from, ", and may have taken writes since"));
      }
      out.snapshot = had;
      out.point_unix_ms = RemoteSnapshotPoint(had).value_or(0);
      return out;
    }
    if (!promoting->second.empty()) {
      if (!snapshot.empty() && snapshot != promoting->second) {
        return absl::FailedPreconditionError(absl::StrCat(
            volume_id, " is being promoted to ", promoting->second, ": finish that first"));
      }
      wanted = promoting->second;  // finish its roll-back
    }
  }

  // What it can be promoted to, checked before anything changes: a wrong
  // name or no complete snapshot leaves the target as it was.
  auto choose = [&]() -> absl::StatusOr<ClusterSnapshotView> {
    ASSIGN_OR_RETURN(auto all, cluster.ListSnapshots(volume_id));
    const auto ready = ReadySyncSnapshots(all);
    const ClusterSnapshotView* found = nullptr;
    for (const auto& s : ready) {
      if (wanted.empty() || s.name == wanted) found = &s;
    }
    if (found != nullptr) return *found;
    if (!wanted.empty()) {
      return absl::NotFoundError(absl::StrCat(volume_id, " holds no complete sync snapshot named ",
                                              wanted, " (ctl snapshot list ", volume_id,
                                              " shows the rs-... ones it holds)"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        volume_id, " holds no complete sync snapshot yet: the first transfer never finished"));
  };
  ASSIGN_OR_RETURN(ClusterSnapshotView candidate, choose());
  if (marked) {
    auto source = volume.attributes.find(kAttrRemoteSourceVolume);
    out.source_volume = source != volume.attributes.end() ? source->second : "";
    // First the source loses the right to write here, then the roll-back: a
    // transfer under way checks the mark before its writes and stops.
    ASSIGN_OR_RETURN(volume,
                     cluster.SetAttributes(
                         volume_id,
                         {{kAttrRemotePromotedFrom, absl::StrCat(out.source_volume, "@")},
                          {kAttrRemotePromoting, snapshot}},
                         {kAttrRemoteSourceId, kAttrRemoteSourceVolume, kAttrRemoteReceiving}));
  }
  // Every time, a retry too (the first may have been killed in its wait): a
  // transfer still within its write validity has stopped by the end of it.
  std::this_thread::sleep_for(options.fence_wait);
  // Chosen again after the wait: a cycle that cut a newer snapshot before it
  // stopped counts (it never prunes a target it no longer owns).
  auto again = choose();
  const ClusterSnapshotView& picked = again.ok() ? *again : candidate;
  const ClusterSnapshotView* chosen = &picked;
  out.snapshot = chosen->name;
  out.point_unix_ms = RemoteSnapshotPoint(chosen->name).value_or(0);
  ASSIGN_OR_RETURN(
      volume, cluster.SetAttributes(
                  volume_id,
                  {{kAttrRemotePromotedFrom, absl::StrCat(out.source_volume, "@", out.snapshot)},
                   {kAttrRemotePromoting, out.snapshot}},
                  {}));

  // The live data is the snapshot plus what a transfer after it half-wrote:
  // copy those regions back from the snapshot.
  ASSIGN_OR_RETURN(auto diff, cluster.DiffSnapshots(chosen->id, ""));
  ByteRanges ranges = RangesOfRegions(diff.changed_regions, diff.region_size, volume.size_bytes);
  const uint64_t total = TotalBytes(ranges);
  if (!ranges.empty()) {
    ASSIGN_OR_RETURN(ChunkReader read, SnapshotReader(cluster, volume, chosen->name));
    ASSIGN_OR_RETURN(auto sink,
                     NbdChunkSink::Open(volume.nbd_uri, absl::StrCat("volume ", volume_id)));
    ShipOptions ship;
    auto report = [&](const ShipTotals& t) {
      if (options.progress) options.progress(t.bytes_shipped + t.zero_bytes, total);
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(ShipTotals done, ShipRanges(
                                          ranges, {}, {}, read, *sink, ship, report,
                                          [] { return false; }, *Clock::Real()));
    out.bytes_restored = done.bytes_shipped + done.zero_bytes;
  }
  RETURN_IF_ERROR(cluster.SetAttributes(volume_id, {}, {kAttrRemotePromoting}).status());
  return out;
}

}  // namespace syncblock::repl
