// The human-readable (`-o table`, the default) renderings of `syncblock ctl`.
// Each returns the whole text, ending in a newline. With a terminal's style,
// tables fit its width and state words are coloured (terminal.h).
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "driver/human_format.h"
#include "driver/terminal.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::driver {

std::string RenderNodes(const std::vector<repl::StorageNodeView>& nodes,
                        const TermStyle& style = {});
std::string RenderVolume(const repl::VolumeView& volume, const TermStyle& style = {});
std::string RenderVolumes(const std::vector<repl::VolumeView>& volumes,
                          const TermStyle& style = {});
std::string RenderVerify(const std::string& volume, const repl::VerifyReport& report,
                         const TermStyle& style = {});
std::string RenderResyncStatus(const repl::VolumeView& volume, const TermStyle& style = {});

// "12.0 MiB / 100.0 MiB (12%), 50.0 MiB/s, ETA 2 s"; "-" when nothing to copy.
std::string FormatProgress(const repl::ReplicaView& replica);
// An asynchronous replica's lag, or since when its bound is broken.
std::string FormatLag(const repl::LagView& lag, int64_t now_ms);

}  // namespace syncblock::driver
