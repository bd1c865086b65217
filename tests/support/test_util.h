// Helpers for tests that start real processes: a temporary directory that is
// removed afterwards, running a command and capturing its output, a child
// process that can be killed with SIGKILL, and waiting for a condition.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace syncblock::testing {

// The `syncblock` binary under test, and the source tree.
std::string SyncblockBinary();
std::string SourceDir();

// A fresh directory under $TMPDIR (or /tmp), removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or could not start
  std::string output;  // stdout and stderr, interleaved
};

// TLS exports (nbds:// URIs) in a test's command line, made usable by the
// real clients: libnbd's tools (nbdinfo, nbdcopy) get the URI's
// `tls-certificates=DIR` (from $SYNCBLOCK_TEST_NBD_CERTS when the URI has
// none; LocalCluster sets it to the admin's directory), and qemu-io/qemu-img,
// which have no nbds:// URIs, get the equivalent `--object tls-creds-x509`
// and `json:` filename. Other commands and plain nbd:// URIs are unchanged.
std::string WithNbdTls(const std::string& command);
// The GnuTLS-style client directory (ca-cert.pem, client-cert.pem,
// client-key.pem) an nbds:// URI is reached with, as WithNbdTls finds it;
// empty for an nbd:// URI or when there is none.
std::string NbdTlsCertificateDir(const std::string& uri);
// A shell function `sb_qemu_io URI ARGS...` for URIs known only when a shell
// script runs: qemu-io with WithNbdTls's translation of an nbds:// URI.
extern const char kQemuIoShellFunction[];

// Runs `command` with /bin/sh -c, waiting at most `timeout` (then SIGKILL).
// NBD URIs in it pass through WithNbdTls (as do a Subprocess's arguments).
CommandResult RunCommand(const std::string& command,
                         std::chrono::seconds timeout = std::chrono::seconds(300));

// True when `tool` is on PATH.
bool HaveTool(const std::string& tool);

// A child process; killed with SIGKILL on destruction if still running.
class Subprocess {
 public:
  // argv[0] is the program; output goes to `log_path` (or /dev/null when empty).
  Subprocess(std::vector<std::string> argv, const std::string& log_path = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Kill(int signal);
  // Waits for exit; returns the exit code, or -signal.
  int Wait();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string ReadFile(const std::string& path);
// The last `max` bytes of a file (a log), "" when it is missing.
std::string Tail(const std::string& path, size_t max = 12000);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace syncblock::testing
