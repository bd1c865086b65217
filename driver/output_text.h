// The human-readable (`-o table`, the default) renderings of `syncblock ctl`.
// Each returns the whole text, ending in a newline.
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "replication/client/storage_cluster.h"

namespace syncblock::driver {

std::string RenderNodes(const std::vector<repl::StorageNodeView>& nodes);
std::string RenderVolume(const repl::VolumeView& volume);
std::string RenderVolumes(const std::vector<repl::VolumeView>& volumes);
std::string RenderVerify(const std::string& volume, const repl::VerifyReport& report);
std::string RenderResyncStatus(const repl::VolumeView& volume);

// "12.0 MiB / 100.0 MiB (12%), 50.0 MiB/s, ETA 2s"; "-" when nothing to copy.
std::string FormatProgress(const repl::ReplicaView& replica);
// 75 -> "1m15s".
std::string FormatDuration(double seconds);

}  // namespace syncblock::driver
