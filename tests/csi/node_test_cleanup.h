// Cleanup for node tests that make real mounts, loop devices and FUSE server
// processes (`syncblock fuse-export`, or nbdfuse) under a temporary directory:
// undoes all of them, deepest first, whatever state a failed test left. Call
// it before the directory is removed.
#pragma once

#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "csi/node/fuse_loop_attacher.h"
#include "csi/node/mounter.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {

inline std::vector<std::string> MountsUnder(const std::string& root) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> out;
  for (const auto& e : ParseMountInfo(ss.str())) {
    if (absl::StartsWith(e.mount_point, root + "/")) out.push_back(e.mount_point);
  }
  return out;
}

inline std::vector<std::string> LoopsUnder(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    std::string name = entry.path().filename();
    if (!absl::StartsWith(name, "loop")) continue;
    if (absl::StartsWith(FuseLoopAttacher::LoopBackingFile("/dev/" + name), root + "/")) {
      out.push_back("/dev/" + name);
    }
  }
  return out;
}

inline void CleanUpNodeArtifacts(const std::string& root) {
  // Mounts on loop devices first (deepest path first), then the loops, then
  // the FUSE mounts under them, then any FUSE server still running.
  auto mounts = MountsUnder(root);
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) {
    if (!absl::StrContains(m, "/fuse/")) umount2(m.c_str(), MNT_DETACH);
  }
  for (const auto& loop : LoopsUnder(root)) testing::RunCommand("losetup -d " + loop);
  for (const auto& m : MountsUnder(root)) umount2(m.c_str(), MNT_DETACH);
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root, ec)) {
    if (entry.path().extension() != ".pid") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    int pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) && pid > 0) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      comm >> name;
      if (IsFuseServer(pid)) kill(pid, SIGKILL);
    }
  }
}

// Runs CleanUpNodeArtifacts on destruction; declare it after the TempDir so it
// runs first.
class NodeArtifactsGuard {
 public:
  explicit NodeArtifactsGuard(std::string root) : root_(std::move(root)) {}
  ~NodeArtifactsGuard() { CleanUpNodeArtifacts(root_); }

 private:
  std::string root_;
};

}  // namespace syncblock::csi
