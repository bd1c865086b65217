#include "driver/ctl_dispatch.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/local_cluster_file.h"
#include "driver/tls_flags.h"
#include "replication/security/grpc_credentials.h"

namespace syncblock::driver {

namespace {

constexpr char kDefaultStorageNodes[] = "127.0.0.1:7400";
const std::set<std::string> kGlobalFlags = {
    "storage-nodes", "cluster",  "output",  "timeout-ms", "connect-timeout-ms",
    "tls-ca",        "tls-cert", "tls-key", "insecure"};

constexpr char kGlobalHelp[] =
    "global flags:\n"
    "  --storage-nodes H:P,...  storage nodes' control addresses (default 127.0.0.1:7400)\n"
    "  --cluster DIR            use the local cluster in DIR (DIR/cluster.json)\n"
    "  -o, --output table|json  output format (default table)\n"
    "  --timeout-ms N           deadline of each call to a storage node (default 10000)\n"
    "  --connect-timeout-ms N   a node not connected within this is unreachable (default 1000)\n"
    "  --tls-ca/--tls-cert/--tls-key FILE\n"
    "                           the CA and the admin certificate and key for the storage\n"
    "                           nodes (default with --cluster: the ones in cluster.json)\n"
    "  --insecure               plaintext, for nodes started with --insecure\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 storage nodes unavailable\n";

std::string Usage(const CtlCommand& c) {
  std::string line = absl::StrCat("syncblock ctl ", absl::StrJoin(c.path, " "));
  if (!c.args.empty()) absl::StrAppend(&line, " ", c.args);
  return line;
}

std::string HelpFor(const CtlCommand& c) {
  std::string out = absl::StrCat("usage: ", Usage(c), "\n\n", c.summary, "\n");
  if (!c.details.empty()) absl::StrAppend(&out, "\n", c.details);
  absl::StrAppend(&out, "\n", kGlobalHelp);
  return out;
}

std::string ListCommands(const std::vector<const CtlCommand*>& commands) {
  std::string out = "usage: syncblock ctl <command> [flags]\n\ncommands:\n";
  size_t width = 0;
  for (const auto* c : commands) width = std::max(width, Usage(*c).size() - 14);
  for (const auto* c : commands) {
    std::string u = Usage(*c).substr(14);  // without "syncblock ctl "
    absl::StrAppend(&out, "  ", u, std::string(width - u.size() + 2, ' '), c->summary, "\n");
  }
  absl::StrAppend(&out, "\n", kGlobalHelp,
                  "\n`syncblock ctl <command> --help` describes a command.\n");
  return out;
}

bool StartsWith(const std::vector<std::string>& v, const std::vector<std::string>& prefix) {
  return prefix.size() <= v.size() && std::equal(prefix.begin(), prefix.end(), v.begin());
}

}  // namespace

CtlContext::CtlContext(Flags flags, std::ostream& out, std::ostream& err, TermStyle style)
    : flags_(std::move(flags)), out_(out), err_(err), style_(style) {}

absl::StatusOr<repl::StorageCluster*> CtlContext::Cluster() {
  if (!cluster_) {
    Flags own = flags_;
    for (const auto& name : claimed_) own = own.Without(name);
    auto addresses = ResolveStorageNodes(own);
    if (!addresses.ok()) return addresses.status();
    auto timeout = flags_.GetInt("timeout-ms", 10000);
    if (!timeout.ok()) return UsageError(timeout.status().message());
    if (*timeout <= 0) return UsageError("--timeout-ms must be positive");
    auto connect_timeout = flags_.GetInt("connect-timeout-ms", 1000);
    if (!connect_timeout.ok()) return UsageError(connect_timeout.status().message());
    if (*connect_timeout <= 0) return UsageError("--connect-timeout-ms must be positive");
    auto tls = CtlTlsFiles(flags_);
    if (!tls.ok()) return tls.status();
    // Every node is dialled at once (the cluster fans its calls out), so an
    // unreachable node costs the connect timeout once, not per node.
    cluster_ = repl::StorageCluster::Connect(*addresses, std::chrono::milliseconds(*timeout),
                                             std::chrono::milliseconds(*connect_timeout),
                                             security::GrpcChannelCredentials(*tls));
  }
  return cluster_.get();
}

CtlCommand& CtlCommand::Flag(const std::string& name, const std::string& value,
                             const std::string& help) {
  flags.insert(name);
  if (value.empty()) bool_flags.insert(name);
  std::string left = absl::StrCat("  --", name, value.empty() ? "" : " ", value);
  absl::StrAppend(&details, left, std::string(left.size() < 22 ? 22 - left.size() : 1, ' '), help,
                  "\n");
  return *this;
}

CtlCommand MakeCtlCommand(std::vector<std::string> path, std::string args, std::string summary,
                          size_t min_args, size_t max_args, CtlRun run) {
  CtlCommand c;
  c.path = std::move(path);
  c.args = std::move(args);
  c.summary = std::move(summary);
  c.min_args = min_args;
  c.max_args = max_args;
  c.run = std::move(run);
  return c;
}

absl::StatusOr<std::vector<std::string>> ResolveStorageNodes(const Flags& flags) {
  if (flags.Has("storage-nodes") && flags.Has("cluster")) {
    return UsageError("give --storage-nodes or --cluster, not both");
  }
  if (flags.Has("storage-nodes")) {
    std::vector<std::string> out;
    for (absl::string_view a :
         absl::StrSplit(flags.Get("storage-nodes"), ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(a));
    }
    if (out.empty()) return UsageError("--storage-nodes is empty");
    return out;
  }
  if (flags.Has("cluster")) {
    auto cluster = LoadCluster(flags.Get("cluster"));
    if (!cluster.ok()) return cluster.status();
    if (cluster->storage.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the local cluster in ", flags.Get("cluster"), " has no storage nodes"));
    }
    return cluster->ControlAddresses();
  }
  return std::vector<std::string>{kDefaultStorageNodes};
}

absl::StatusOr<security::TlsFiles> CtlTlsFiles(const Flags& flags) {
  security::TlsFiles defaults;
  if (flags.Has("cluster")) {
    auto cluster = LoadCluster(flags.Get("cluster"));
    if (!cluster.ok()) return cluster.status();
    defaults = cluster->tls.Admin();
  }
  security::TlsFiles files = TlsFilesFromFlags(flags, defaults);
  if (flags.GetBool("insecure")) files = {"", "", "", true};
  if (!files.insecure && (files.ca.empty() || files.cert.empty() || files.key.empty())) {
    return UsageError(
        "the storage nodes speak TLS: give --tls-ca, --tls-cert and --tls-key (an admin "
        "certificate), or --cluster DIR of a `local up` cluster, or --insecure for nodes "
        "started with --insecure");
  }
  auto identity = security::CheckTlsFiles(files);
  if (!identity.ok()) return UsageError(identity.status().message());
  security::SetProcessTlsFiles(files);
  return files;
}

std::string CtlCommandList(const std::vector<CtlCommand>& table) {
  std::vector<const CtlCommand*> all;
  for (const auto& c : table) all.push_back(&c);
  return ListCommands(all);
}

int DispatchCtl(const std::vector<CtlCommand>& table, int argc, char** argv, std::ostream& out,
                std::ostream& err, TermStyle out_style, TermStyle err_style) {
  const CtlCommand* cmd = nullptr;
  Flags no_flags;
  const Flags* given = &no_flags;
  auto fail = [&](const absl::Status& s) {
    err << Paint(err_style, Color::kRed, "syncblock ctl:") << " "
        << ErrorLine(s, cmd ? cmd->path : std::vector<std::string>{}, *given) << "\n";
    return ExitCodeFor(s);
  };
  std::set<std::string> bool_flags;
  for (const auto& c : table) bool_flags.insert(c.bool_flags.begin(), c.bool_flags.end());
  bool_flags.insert("insecure");
  auto flags = Flags::Parse(argc, argv, bool_flags);
  if (!flags.ok()) return fail(UsageError(flags.status().message()));
  given = &*flags;
  const auto& words = flags->positional();
  bool help = flags->GetBool("help");

  for (const auto& c : table) {
    if (StartsWith(words, c.path) && (!cmd || c.path.size() > cmd->path.size())) cmd = &c;
  }
  if (!cmd) {
    // A group ("volume") or nothing: list what there is under it.
    std::vector<const CtlCommand*> under;
    for (const auto& c : table) {
      if (StartsWith(c.path, words)) under.push_back(&c);
    }
    if (under.empty()) {
      return fail(UsageError(absl::StrCat("unknown command '", absl::StrJoin(words, " "),
                                          "' (see syncblock ctl --help)")));
    }
    if (help) {
      out << ListCommands(under);
      return 0;
    }
    err << ListCommands(under);
    return kExitUsage;
  }
  if (help) {
    out << HelpFor(*cmd);
    return 0;
  }
  std::set<std::string> known = kGlobalFlags;
  known.insert(cmd->flags.begin(), cmd->flags.end());
  std::string see =
      absl::StrCat(" (see ", Usage(*cmd).substr(0, 14), absl::StrJoin(cmd->path, " "), " --help)");
  if (auto s = flags->CheckKnown(known); !s.ok()) {
    return fail(UsageError(absl::StrCat(s.message(), see)));
  }
  std::vector<std::string> args(words.begin() + cmd->path.size(), words.end());
  if (args.size() < cmd->min_args || args.size() > cmd->max_args) {
    return fail(UsageError(absl::StrCat("usage: ", Usage(*cmd))));
  }
  std::string output = flags->Get("output", "table");
  if (output != "table" && output != "json") {
    return fail(UsageError(absl::StrCat("--output must be table or json, not '", output, "'")));
  }
  CtlContext ctx(*flags, out, err, out_style);
  ctx.set_json(output == "json");
  absl::Status s = cmd->run(ctx, args);
  if (!s.ok()) return fail(s);
  out.flush();
  return 0;
}

void CtlContext::Print(const nlohmann::json& json, const std::string& text) {
  if (json_) {
    out_ << json.dump(2) << "\n";
  } else {
    out_ << text;
  }
}

}  // namespace syncblock::driver
