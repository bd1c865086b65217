#include "csi/volume_ready.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "csi/status_mapping.h"

namespace syncblock::csi {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

// What the volume waits for, in the CO's terms.
std::string Waiting(const repl::VolumeView& view) {
  if (view.primary.empty() || view.nbd_uri.empty()) return "no primary answers for it";
  int in_sync = 0;
  for (const auto& r : view.replicas) in_sync += r.state == "in_sync" ? 1 : 0;
  return absl::StrCat("its primary on node ", view.primary,
                      " waits for a majority of its replicas to accept it (", in_sync, " of ",
                      view.replicas.size(), " in sync)");
}

}  // namespace

absl::Time CallDeadline(std::chrono::system_clock::time_point grpc_deadline) {
  absl::Time cap = absl::Now() + kMaxServingWait;
  if (grpc_deadline == std::chrono::system_clock::time_point::max()) return cap;
  return std::min(cap, absl::FromChrono(grpc_deadline));
}

absl::StatusOr<repl::VolumeView> WaitUntilServing(repl::StorageCluster& cluster,
                                                  const std::string& volume_id,
                                                  absl::Time deadline) {
  for (;;) {
    auto view = cluster.GetVolume(volume_id);
    if (!view.ok() && view.status().code() == absl::StatusCode::kNotFound) return view.status();
    if (view.ok() && view->serving) return view;
    if (absl::Now() + kPollInterval >= deadline) {
      if (!view.ok()) return FromStorage(view.status());
      return absl::UnavailableError(
          absl::StrCat("volume ", volume_id, " is not serving yet: ", Waiting(*view)));
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kPollInterval));
  }
}

}  // namespace syncblock::csi
