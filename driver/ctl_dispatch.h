// The command table of `syncblock ctl` and the dispatcher over it. Each area
// (volumes, nodes and replicas, sync) contributes its commands through a
// function declared in ctl_commands.h; the CSI commands (`ctl csi ...`) join by
// adding their own list to the table in ctl_command.cc.
//
// An error is one line on stderr, `syncblock ctl: <message>; <next step>`,
// and the exit code tells usage, not-found and unavailable apart
// (ctl_errors.h).
//
// Thread-compatible: one command runs at a time.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "driver/ctl_errors.h"
#include "driver/flags.h"
#include "driver/terminal.h"
#include "replication/client/storage_cluster.h"
#include "replication/security/tls_files.h"

namespace syncblock::driver {

// What a command runs with: its flags, where to print, and the cluster
// (connected on first use, so `--help` and usage errors need none).
class CtlContext {
 public:
  CtlContext(Flags flags, std::ostream& out, std::ostream& err, TermStyle style = {});

  const Flags& flags() const { return flags_; }
  std::ostream& out() { return out_; }
  // Prints `json` (indented) with -o json, else `text`.
  void Print(const nlohmann::json& json, const std::string& text);
  std::ostream& err() { return err_; }
  bool json() const { return json_; }
  // Where standard output goes: a terminal (colour, width) or not.
  const TermStyle& style() const { return style_; }
  void set_json(bool json) { json_ = json; }

  absl::StatusOr<repl::StorageCluster*> Cluster();
  // From now on, Cluster() does not read the global flag `name`: the command
  // gives it a meaning of its own (`remote add --storage-nodes`: the
  // remote's nodes, not this cluster's).
  void ClaimFlag(const std::string& name) { claimed_.insert(name); }

 private:
  Flags flags_;
  std::ostream& out_;
  std::ostream& err_;
  bool json_ = false;
  TermStyle style_;
  std::unique_ptr<repl::StorageCluster> cluster_;
  std::set<std::string> claimed_;
};

using CtlRun = std::function<absl::Status(CtlContext&, const std::vector<std::string>&)>;

struct CtlCommand {
  std::vector<std::string> path;  // e.g. {"volume", "create"}
  std::string args;               // positional arguments, for the usage line
  std::string summary;
  size_t min_args = 0;
  size_t max_args = 0;
  CtlRun run;
  std::string details;               // the flags, one per line, for --help
  std::set<std::string> flags;       // flags beyond the global ones
  std::set<std::string> bool_flags;  // those of `flags` that take no value

  // Declares a flag: `value` names its value in the help ("" for a boolean).
  CtlCommand& Flag(const std::string& name, const std::string& value, const std::string& help);
};

CtlCommand MakeCtlCommand(std::vector<std::string> path, std::string args, std::string summary,
                          size_t min_args, size_t max_args, CtlRun run);

// The storage nodes' control addresses from --storage-nodes, else --cluster
// DIR (DIR/cluster.json), else 127.0.0.1:7400.
absl::StatusOr<std::vector<std::string>> ResolveStorageNodes(const Flags& flags);

// ctl's TLS files: --tls-* over the admin certificate of --cluster DIR;
// --insecure for plaintext. Checked (they load and fit), and set as the
// process's. A usage error naming what is missing or wrong.
absl::StatusOr<security::TlsFiles> CtlTlsFiles(const Flags& flags);

// Parses `argv` (argv[0] is "ctl"), finds the command and runs it. `out_style`
// describes `out` (tables fit its width, colour, redrawing), `err_style` `err`.
int DispatchCtl(const std::vector<CtlCommand>& table, int argc, char** argv, std::ostream& out,
                std::ostream& err, TermStyle out_style = {}, TermStyle err_style = {});

// The help text listing the commands of `table` (`syncblock ctl --help`).
std::string CtlCommandList(const std::vector<CtlCommand>& table);

}  // namespace syncblock::driver
