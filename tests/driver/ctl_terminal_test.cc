// `syncblock ctl` on a real terminal: `resync-status --watch` runs inside
// tmux (a real pseudo-terminal, 80 columns) during a real resync, and the
// screen is read back with `tmux capture-pane`: one progress bar per replica
// being copied, redrawn in place (the table is on the screen once, not
// scrolled), lines within 80 columns, colour on the terminal and none with
// NO_COLOR. And `csi expand --path` of a mounted xfs: the filesystem's growth
// as one line redrawn in place, ending at 100%.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <regex>
#include <sstream>

#include "tests/csi/node_test_cleanup.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A tmux server of our own (its own socket), killed with everything in it.
class Tmux {
 public:
  Tmux() : socket_("syncblock-test-" + std::to_string(getpid())) {}
  ~Tmux() { RunCommand(Base() + " kill-server 2>/dev/null"); }

  // Runs `command` in a new 80x24 window named `name`; the pane stays after
  // the command ends (it prints EXITED=<code>).
  bool Window(const std::string& name, const std::string& command) {
    std::string shell = command + "; echo EXITED=$?; sleep 600";
    std::string verb = started_ ? " new-window -d -n " + name + " "
                                : " new-session -d -x 80 -y 24 -s main -n " + name + " ";
    started_ = true;
    auto r = RunCommand(Base() + verb + Quote(shell));
    if (r.exit_code != 0) ADD_FAILURE() << r.output;
    return r.exit_code == 0;
  }
  // The visible screen; with `history`, everything that scrolled off too;
  // with `escapes`, colour escape sequences kept.
  std::string Capture(const std::string& name, bool history = false, bool escapes = false) {
    return RunCommand(Base() + " capture-pane -p -J" + (history ? " -S -" : "") +
                      (escapes ? " -e" : "") + " -t main:" + name)
        .output;
  }

 private:
  std::string Base() const { return "tmux -L " + socket_ + " -f /dev/null"; }
  static std::string Quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  std::string socket_;
  bool started_ = false;
};

TEST(CtlTerminalTest, WatchRedrawsAProgressBarInPlaceDuringAResync) {
  if (!HaveTool("tmux") || !HaveTool("qemu-io")) {
    if (std::getenv("CI") != nullptr) FAIL() << "tmux and qemu-io are needed (CI installs them)";
    GTEST_SKIP() << "tmux or qemu-io not installed (Debian: tmux qemu-utils)";
  }
  // A slow resync (2 MiB/s for 24 MiB) leaves time to look at it.
  LocalCluster c(3, "--no-csi --resync-rate 2MiB");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(
      c.Ctl("volume create tv --size 64M --replicas 3 --nodes node-1,node-2,node-3").exit_code, 0);
  const std::string uri = c.Export("tv");
  ASSERT_TRUE(c.Kill("node-3"));
  auto w = RunCommand("qemu-io -f raw -c 'write -P 0x5a 0 24M' " + uri);
  ASSERT_EQ(w.exit_code, 0) << w.output;
  ASSERT_TRUE(c.Start("node-3"));

  Tmux tmux;
  const std::string ctl = SyncblockBinary() + " ctl --cluster " + c.dir();
  ASSERT_TRUE(tmux.Window(
      "watch", "env TERM=xterm-256color " + ctl + " resync-status tv --watch --interval-ms 300"));
  // A progress bar with bytes, rate and ETA for node-3.
  const std::regex bar(
      R"(node-3 +\[=*>? *\] +\d+%  [0-9.]+ [KMG]?i?B / 24\.0 MiB  [0-9.]+ [KMG]?i?B/s  ETA )");
  std::string first;
  ASSERT_TRUE(WaitFor(
      [&] {
        first = tmux.Capture("watch");
        return std::regex_search(first, bar);
      },
      std::chrono::seconds(60)))
      << "no progress bar on the screen:\n"
      << first;
  // Redrawn: the screen changes (the clock, the bytes) while the table stays
  // on it once, nothing scrolled off.
  std::string later;
  ASSERT_TRUE(WaitFor(
      [&] {
        later = tmux.Capture("watch");
        return later != first && std::regex_search(later, bar);
      },
      std::chrono::seconds(30)))
      << later;
  std::cout << "--- the screen during the resync (tmux capture-pane):\n" << later << "---\n";
  std::string history = tmux.Capture("watch", true);
  EXPECT_EQ(Count(history, "volume tv (primary node-1)"), 1u) << history;
  EXPECT_EQ(Count(history, "NODE"), 1u) << history;
  std::istringstream lines(history);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
  // Colour on this terminal: node-1's in_sync in green.
  EXPECT_THAT(tmux.Capture("watch", false, true), HasSubstr("\x1b[32min_sync"));

  // To the end: every replica in sync, the command exits 0.
  std::string last;
  ASSERT_TRUE(WaitFor(
      [&] {
        last = tmux.Capture("watch");
        return last.find("EXITED=") != std::string::npos;
      },
      std::chrono::seconds(120)))
      << last;
  std::cout << "--- the screen at the end:\n" << last << "---\n";
  EXPECT_THAT(last, HasSubstr("volume tv: all replicas in sync"));
  EXPECT_THAT(last, HasSubstr("EXITED=0"));
  EXPECT_FALSE(std::regex_search(last, bar)) << last;
  EXPECT_EQ(Count(tmux.Capture("watch", true), "NODE"), 1u);

  // NO_COLOR: the same terminal, no escape sequences.
  ASSERT_TRUE(
      tmux.Window("plain", "env TERM=xterm-256color NO_COLOR=1 " + ctl + " resync-status tv"));
  std::string plain;
  ASSERT_TRUE(WaitFor(
      [&] {
        plain = tmux.Capture("plain", false, true);
        return plain.find("EXITED=") != std::string::npos;
      },
      std::chrono::seconds(60)));
  EXPECT_THAT(plain, HasSubstr("in_sync"));
  EXPECT_THAT(plain, Not(HasSubstr("\x1b[3"))) << plain;
  EXPECT_THAT(plain, HasSubstr("EXITED=0"));
}

TEST(CtlTerminalTest, ExpandShowsTheFilesystemGrowingOnOneLine) {
  if (!HaveTool("tmux") || !csi::CanRun() || !HaveTool("mkfs.xfs")) {
    if (std::getenv("CI") != nullptr) FAIL() << "tmux, xfsprogs, FUSE and loop devices are needed";
    GTEST_SKIP() << "needs tmux, mkfs.xfs, root, /dev/fuse and loop devices";
  }
  LocalCluster c(3, "--require-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  TempDir work;
  csi::NodeArtifactsGuard guard(work.path());
  const std::string staging = work.Join("staging/grow");
  const std::string target = work.Join("pods/grow/mount");
  auto created = c.Ctl("csi create grow --size 512M --fs xfs");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  auto staged = c.Ctl("csi stage grow --fs xfs --auto-publish --staging-path " + staging);
  ASSERT_EQ(staged.exit_code, 0) << staged.output;
  auto mounted = c.Ctl("csi mount grow --fs xfs --staging-path " + staging + " --target " + target);
  ASSERT_EQ(mounted.exit_code, 0) << mounted.output;

  Tmux tmux;
  const std::string ctl = SyncblockBinary() + " ctl --cluster " + c.dir();
  ASSERT_TRUE(tmux.Window("grow", "env TERM=xterm-256color " + ctl +
                                      " csi expand grow --size 1536M --fs xfs --path " + target));
  std::string screen;
  ASSERT_TRUE(WaitFor(
      [&] {
        screen = tmux.Capture("grow");
        return screen.find("EXITED=") != std::string::npos;
      },
      std::chrono::seconds(120)))
      << screen;
  std::cout << "--- the screen after `csi expand --path` (tmux capture-pane):\n"
            << screen << "---\n";
  EXPECT_THAT(screen, HasSubstr("EXITED=0"));
  EXPECT_THAT(screen, HasSubstr("and on the node at " + target));
  const std::regex done(
      R"(growing( \S+)? +\[=+\] +100%  [0-9.]+ [KMG]?i?B / 1\.5 GiB  [0-9.]+ [KMG]?i?B/s  done in )");
  EXPECT_TRUE(std::regex_search(screen, done)) << screen;
  // One line redrawn in place, however many times it was drawn.
  const std::string history = tmux.Capture("grow", true);
  EXPECT_EQ(Count(history, "growing "), 1u) << history;
  std::istringstream lines(history);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("growing", 0) == 0) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }

  // Not on a terminal: plain lines, the last one saying what it grew to.
  auto again = c.Ctl("csi expand grow --size 2G --fs xfs --path " + target);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("growing " + target + ": "));
  EXPECT_THAT(again.output, ::testing::ContainsRegex("grew " + target + " from 1\\.[0-9] GiB to"));
  EXPECT_THAT(again.output, Not(HasSubstr("\x1b[")));

  EXPECT_EQ(c.Ctl("csi umount grow --target " + target).exit_code, 0);
  EXPECT_EQ(c.Ctl("csi unstage grow --staging-path " + staging).exit_code, 0);
}

}  // namespace
}  // namespace syncblock::testing
