// The remote sync part of the storage node's /metrics page
// (replication/doc/remote_sync.md): for each volume the node serves as
// primary that declares a remote sync, the cycles, the bytes shipped, the
// achieved recovery point and its bound, and the transfer under way, all
// read from the status the sync keeps in the volume's attributes. Every
// node that serves a volume as primary can report it, whichever node runs
// the sync.
//
// Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace syncblock::repl {

struct RemoteSyncVolume {
  std::string volume_id;
  std::map<std::string, std::string> attributes;
};

// The syncblock_remote_sync_* families (HELP and TYPE always, a series per
// volume that declares a sync). `now_unix_ms` ages the recovery point.
std::string RenderRemoteSyncMetrics(const std::vector<RemoteSyncVolume>& primaries,
                                    int64_t now_unix_ms);

}  // namespace syncblock::repl
