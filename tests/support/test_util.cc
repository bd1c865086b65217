#include "tests/support/test_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "replication/util/socket.h"

namespace syncblock::testing {

std::string SyncblockBinary() {
  if (const char* env = std::getenv("SYNCBLOCK_BIN")) return env;
  return SYNCBLOCK_BINARY;
}

std::string SourceDir() { return SYNCBLOCK_SOURCE_DIR; }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/syncblock-test-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : "";
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

struct NbdsUri {
  std::string host, port, export_name, certs;
};

// Parses nbds://HOST:PORT/EXPORT[?tls-certificates=DIR] from `text` at `at`;
// `end` gets the index after it.
bool ParseNbds(const std::string& text, size_t at, NbdsUri* out, size_t* end) {
  size_t i = at + 7;  // "nbds://"
  size_t stop = text.find_first_of("'\" \t\n", i);
  if (stop == std::string::npos) stop = text.size();
  std::string uri = text.substr(i, stop - i);
  size_t slash = uri.find('/');
  if (slash == std::string::npos) return false;
  std::string hostport = uri.substr(0, slash);
  std::string rest = uri.substr(slash + 1);
  size_t colon = hostport.rfind(':');
  out->host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  out->port = colon == std::string::npos ? "10809" : hostport.substr(colon + 1);
  size_t q = rest.find('?');
  out->export_name = rest.substr(0, q);
  out->certs.clear();
  if (q != std::string::npos) {
    const std::string key = "tls-certificates=";
    size_t k = rest.find(key, q);
    if (k != std::string::npos) {
      size_t amp = rest.find('&', k);
      out->certs = rest.substr(k + key.size(),
                               amp == std::string::npos ? std::string::npos : amp - k - key.size());
    }
  }
  if (out->certs.empty()) {
    const char* env = getenv("SYNCBLOCK_TEST_NBD_CERTS");
    if (env != nullptr) out->certs = env;
  }
  *end = stop;
  return true;
}

}  // namespace

std::string NbdTlsCertificateDir(const std::string& uri) {
  if (uri.rfind("nbds://", 0) != 0) return "";
  NbdsUri u;
  size_t end = 0;
  return ParseNbds(uri, 0, &u, &end) ? u.certs : "";
}

std::string WithNbdTls(const std::string& command) {
  const bool qemu =
      command.find("qemu-io") != std::string::npos || command.find("qemu-img") != std::string::npos;
  std::string out;
  size_t pos = 0;
  int objects = 0;
  while (true) {
    size_t at = command.find("nbds://", pos);
    if (at == std::string::npos) break;
    NbdsUri u;
    size_t end = 0;
    if (!ParseNbds(command, at, &u, &end) || u.certs.empty()) {
      out += command.substr(pos, at + 7 - pos);
      pos = at + 7;
      continue;
    }
    if (!qemu) {
      out += command.substr(pos, at - pos);
      out +=
          "nbds://" + u.host + ":" + u.port + "/" + u.export_name + "?tls-certificates=" + u.certs;
      pos = end;
      continue;
    }
    // qemu: replace the URI and the single quotes around it, if any.
    size_t from = at, to = end;
    if (from > pos && command[from - 1] == '\'' && to < command.size() && command[to] == '\'') {
      --from;
      ++to;
    }
    std::string id = "sbtls" + std::to_string(objects++);
    out += command.substr(pos, from - pos);
    out += "--object tls-creds-x509,id=" + id + ",endpoint=client,dir=" + u.certs +
           " 'json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"" +
           u.host + "\",\"port\":\"" + u.port + "\"},\"export\":\"" + u.export_name +
           "\",\"tls-creds\":\"" + id + "\"}}'";
    pos = to;
  }
  out += command.substr(pos);
  return out;
}

const char kQemuIoShellFunction[] =
    "sb_qemu_io() { u=$1; shift; case $u in nbds://*) h=${u#nbds://}; hp=${h%%/*}; "
    "e=${h#*/}; e=${e%%\\?*}; qemu-io --object "
    "tls-creds-x509,id=sbtls,endpoint=client,dir=$SYNCBLOCK_TEST_NBD_CERTS "
    "\"json:{\\\"file\\\":{\\\"driver\\\":\\\"nbd\\\",\\\"server\\\":{\\\"type\\\":\\\"inet\\\","
    "\\\"host\\\":\\\"${hp%:*}\\\",\\\"port\\\":\\\"${hp##*:}\\\"},\\\"export\\\":\\\"$e\\\","
    "\\\"tls-creds\\\":\\\"sbtls\\\"}}\" \"$@\";; *) qemu-io \"$u\" \"$@\";; esac; }; ";

CommandResult RunCommand(const std::string& command, std::chrono::seconds timeout) {
  CommandResult result;
  const std::string with_tls = WithNbdTls(command);  // before fork: it allocates
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return result;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execl("/bin/sh", "sh", "-c", with_tls.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  if (pid < 0) {
    close(pipefd[0]);
    return result;
  }
  // Read in a thread so a chatty command cannot block on a full pipe.
  std::thread reader([&] {
    std::array<char, 8192> buf;
    ssize_t n;
    while ((n = read(pipefd[0], buf.data(), buf.size())) > 0) result.output.append(buf.data(), n);
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.output += "\n[killed: timeout]\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Children of the command may still hold the pipe: end the whole group.
  kill(-pid, SIGKILL);
  reader.join();
  close(pipefd[0]);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool HaveTool(const std::string& tool) {
  return RunCommand("command -v " + tool + " >/dev/null 2>&1").exit_code == 0;
}

Subprocess::Subprocess(std::vector<std::string> argv, const std::string& log_path) {
  // Before fork (it allocates); a shell script's URIs too (`sh -c '...'`).
  for (auto& a : argv) a = WithNbdTls(a);
  pid_ = fork();
  if (pid_ == 0) {
    int out = open(log_path.empty() ? "/dev/null" : log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                   0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

bool Subprocess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void Subprocess::Kill(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

int Subprocess::Wait() {
  if (pid_ <= 0) return -1;
  if (!reaped_) {
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

int FreePort() {
  // Ports are picked at random, and a test takes several before any is bound:
  // never hand out the same one twice in a process.
  static std::mutex mu;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto ports = PickFreePorts(1);
    if (ports.ok() && given.insert(ports->front()).second) return ports->front();
  }
  return 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path, size_t max) {
  std::string text = ReadFile(path);
  return text.size() > max ? text.substr(text.size() - max) : text;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace syncblock::testing
