#include "driver/local_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replication/util/socket.h"

namespace syncblock::driver {

absl::StatusOr<std::string> SelfExecutable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    return absl::InternalError(absl::StrCat("readlink /proc/self/exe: ", std::strerror(errno)));
  }
  return std::string(buf, n);
}

absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path) {
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat(log_path, ": ", std::strerror(errno)));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    execv(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(log);
  return pid;
}

bool IsSyncblockProcess(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return false;
  // The state follows the parenthesised command name.
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
  char state = line[close_paren + 2];
  if (state == 'Z' || state == 'X') return false;
  std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"));
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  return argv0.find("syncblock") != std::string::npos;
}

namespace {

// Inodes of sockets listening on `port`, from a /proc/net/tcp-style table.
void ListeningInodes(const std::string& table, int port, std::set<std::string>* inodes) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.size() < 10 || f[3] != "0A") continue;  // 0A: LISTEN
    auto colon = f[1].rfind(':');
    if (colon == std::string::npos) continue;
    if (std::strtol(f[1].c_str() + colon + 1, nullptr, 16) == port) inodes->insert(f[9]);
  }
}

}  // namespace

bool ListensOn(pid_t pid, int port) {
  std::set<std::string> inodes;
  ListeningInodes("/proc/net/tcp", port, &inodes);
  ListeningInodes("/proc/net/tcp6", port, &inodes);
  if (inodes.empty()) return false;
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec)) {
    std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (ec || !absl::StartsWith(target, "socket:[")) continue;
    if (inodes.count(target.substr(8, target.size() - 9))) return true;
  }
  return false;
}

bool ReapIfExited(pid_t pid, int* exit_status) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    if (exit_status) *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return true;
  }
  return false;
}

namespace {

// The pids of `pids` still running after waiting up to `timeout` for them.
std::vector<pid_t> WaitGone(std::vector<pid_t> pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::vector<pid_t> still;
    for (pid_t p : pids) {
      ReapIfExited(p, nullptr);
      if (IsSyncblockProcess(p)) still.push_back(p);
    }
    if (still.empty() || std::chrono::steady_clock::now() >= deadline) return still;
    pids.swap(still);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

void StopProcesses(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  std::vector<pid_t> alive;
  for (pid_t p : pids) {
    if (IsSyncblockProcess(p) && kill(p, SIGTERM) == 0) alive.push_back(p);
  }
  alive = WaitGone(alive, grace);
  for (pid_t p : alive) kill(p, SIGKILL);
  WaitGone(alive, std::chrono::seconds(10));
}

void StopProcess(pid_t pid, std::chrono::milliseconds grace) { StopProcesses({pid}, grace); }

absl::StatusOr<std::vector<int>> FreePorts(int count) { return PickFreePorts(count); }

std::string TailFile(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) absl::StrAppend(&out, l, "\n");
  return out;
}

}  // namespace syncblock::driver
