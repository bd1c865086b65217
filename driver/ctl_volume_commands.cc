// `syncblock ctl volume create|delete|show|list|expand|qos|witness|unlock` and `ctl export`.
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_export.h"
#include "driver/ctl_follow.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "replication/crypt/key_wrap.h"
#include "replication/qos/qos_settings.h"
#include "replication/security/certificate_dir.h"
#include "replication/security/certificates.h"
#include "replication/types/async_policy.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"

namespace syncblock::driver {

namespace {

bool AllInSync(const repl::VolumeView& v) {
  for (const auto& r : v.replicas) {
    if (r.state != "in_sync") return false;
  }
  return true;
}

// The secret in --key-file: its bytes (one trailing newline is not part of
// it). Never printed.
absl::StatusOr<std::string> ReadKeyFile(const Flags& f) {
  if (!f.Has("key-file")) return UsageError("give the volume's key with --key-file FILE");
  const std::string path = f.Get("key-file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat("cannot read key file ", path));
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.empty() || key == "\n") return UsageError(absl::StrCat("key file ", path, " is empty"));
  return key;
}

absl::Status Create(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& f = ctx.flags();
  const bool clone = f.Has("from-snapshot") || f.Has("from-volume");
  if (f.Has("from-snapshot") && f.Has("from-volume")) {
    return UsageError("give --from-snapshot or --from-volume, not both");
  }
  if (!f.Has("size") && !clone) return UsageError("volume create needs --size (e.g. --size 1G)");
  auto size = f.GetSize("size", 0);
  if (!size.ok()) return UsageError(size.status().message());
  auto replicas = f.GetInt("replicas", 3);
  if (!replicas.ok()) return UsageError(replicas.status().message());
  repl::VolumeSpec spec;
  spec.id = args[0];
  spec.size_bytes = *size;
  spec.replicas = static_cast<int>(*replicas);
  if (*replicas != spec.replicas) spec.replicas = -1;  // out of int range: refused below
  if (f.Has("nodes")) spec.node_ids = absl::StrSplit(f.Get("nodes"), ',', absl::SkipEmpty());
  if (f.Has("zones")) spec.allowed_zones = absl::StrSplit(f.Get("zones"), ',', absl::SkipEmpty());
  auto async_replicas = f.GetInt("async-replicas", 0);
  if (!async_replicas.ok()) return UsageError(async_replicas.status().message());
  spec.async_replicas = static_cast<int>(*async_replicas);
  if (*async_replicas != spec.async_replicas) spec.async_replicas = -1;  // refused below
  for (const auto& [flag, attribute] : {std::pair{"max-lag-ms", repl::kAttrMaxLagMs},
                                        std::pair{"max-lag-bytes", repl::kAttrMaxLagBytes},
                                        std::pair{"lag-policy", repl::kAttrLagPolicy}}) {
    if (!f.Has(flag)) continue;
    if (spec.async_replicas == 0) {
      return UsageError(
          absl::StrCat("--", flag, " bounds asynchronous replicas: give --async-replicas"));
    }
    spec.attributes[attribute] = f.Get(flag);
  }
  spec.witness = !f.GetBool("no-witness");
  spec.witness_node = f.Get("witness");
  if (!spec.witness_node.empty() && !spec.witness) {
    return UsageError("give --witness or --no-witness, not both");
  }
  spec.source_snapshot_id = f.Get("from-snapshot");
  spec.source_volume_id = f.Get("from-volume");
  if (!spec.source_snapshot_id.empty()) {
    if (auto parts = repl::ParseSnapshotId(spec.source_snapshot_id); !parts.ok()) {
      return UsageError(parts.status().message());
    }
  }
  // --encrypted: a new data key wrapped with the key file's secret. A clone
  // of an encrypted volume is encrypted with its source's data key, and
  // --key-file (the source's secret) unlocks it.
  std::string key;
  if (f.Has("key-file") && !f.GetBool("encrypted") && !clone) {
    return UsageError("--key-file goes with --encrypted, or with a clone of an encrypted volume");
  }
  if (f.GetBool("encrypted") || f.Has("key-file")) {
    ASSIGN_OR_RETURN(key, ReadKeyFile(f));
  }
  if (f.GetBool("encrypted")) {
    ASSIGN_OR_RETURN(auto crypt, repl::NewEncryptionAttributes(key));
    spec.attributes.insert(crypt.begin(), crypt.end());
  }
  ASSIGN_OR_RETURN(auto follow, FollowFlags(f));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  if (!f.Has("size")) {
    // A clone is as large as its source unless told otherwise.
    if (!spec.source_snapshot_id.empty()) {
      ASSIGN_OR_RETURN(auto source, cluster->GetSnapshot(spec.source_snapshot_id));
      spec.size_bytes = source.size_bytes;
    } else {
      ASSIGN_OR_RETURN(auto source, cluster->GetVolume(spec.source_volume_id));
      spec.size_bytes = source.size_bytes;
    }
  }
  ASSIGN_OR_RETURN(auto view, cluster->CreateVolume(spec));
  if (!key.empty() && view.encrypted) {
    auto unlocked = cluster->UnlockVolume(spec.id, key);
    WipeString(key);
    if (!unlocked.ok()) {
      return absl::Status(unlocked.status().code(),
                          absl::StrCat("volume ", spec.id, " was created but not unlocked: ",
                                       unlocked.status().message()));
    }
    ASSIGN_OR_RETURN(view, cluster->GetVolume(spec.id));
  }
  // A clone's secondaries get full copies: --wait shows them to the end.
  if (f.GetBool("wait")) RETURN_IF_ERROR(FollowVolume(ctx, spec.id, follow));
  // A new primary connects to its peers within moments of its creation; show
  // the volume once they are connected rather than the instant before.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!AllInSync(view) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto fresh = cluster->GetVolume(spec.id);
    if (fresh.ok()) view = *std::move(fresh);
  }
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

absl::Status Delete(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  RETURN_IF_ERROR(cluster->DeleteVolume(args[0]));
  ctx.Print(nlohmann::json({{"deleted", args[0]}}), absl::StrCat("deleted volume ", args[0], "\n"));
  return absl::OkStatus();
}

absl::Status Show(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->GetVolume(args[0]));
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

// Gives every data replica the volume's key (memory only): after a storage
// node restarted, or by hand instead of the CSI controller.
absl::Status Unlock(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(std::string key, ReadKeyFile(ctx.flags()));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  auto report = cluster->UnlockVolume(args[0], key);
  WipeString(key);
  if (!report.ok()) return report.status();
  nlohmann::json missed = nlohmann::json::object();
  std::string text = absl::StrCat("volume ", args[0], ": unlocked on ",
                                  absl::StrJoin(report->unlocked, ","), "\n");
  for (const auto& [node, why] : report->missed) {
    missed[node] = why;
    absl::StrAppend(&text, "not reached: ", node, ": ", why, "\n");
  }
  ctx.Print(
      nlohmann::json({{"volume", args[0]}, {"unlocked", report->unlocked}, {"missed", missed}}),
      text);
  return absl::OkStatus();
}

absl::Status Witness(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  std::string note;
  ASSIGN_OR_RETURN(auto view, cluster->MoveWitness(args[0], args[1], &note));
  if (!note.empty()) std::cerr << "warning: " << note << "\n";
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

absl::Status List(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto views, cluster->ListVolumes());
  ctx.Print(VolumesToJson(views), RenderVolumes(views, ctx.style()));
  return absl::OkStatus();
}

absl::Status Expand(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& f = ctx.flags();
  if (!f.Has("size")) return UsageError("volume expand needs --size (e.g. --size 2G)");
  auto size = f.GetSize("size", 0);
  if (!size.ok()) return UsageError(size.status().message());
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->ExpandVolume(args[0], *size));
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

// Sets the QoS limits given (the others keep their value), as
// ControllerModifyVolume does; the primary enforces them at once.
absl::Status Qos(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& f = ctx.flags();
  std::map<std::string, std::string> set;
  if (f.Has("max-iops")) {
    auto v = repl::ParseQosIops("--max-iops", f.Get("max-iops"));
    if (!v.ok()) return UsageError(v.status().message());
    set[repl::kAttrQosMaxIops] = absl::StrCat(*v);
  }
  if (f.Has("max-bandwidth")) {
    auto v = repl::ParseQosBandwidth("--max-bandwidth", f.Get("max-bandwidth"));
    if (!v.ok()) return UsageError(v.status().message());
    set[repl::kAttrQosMaxBandwidth] = absl::StrCat(*v);
  }
  if (f.Has("burst")) {
    auto v = repl::ParseQosBurst("--burst", f.Get("burst"));
    if (!v.ok()) return UsageError(v.status().message());
    set[repl::kAttrQosBurst] = repl::FormatBurst(*v);
  }
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  repl::VolumeView view;
  if (set.empty()) {
    ASSIGN_OR_RETURN(view, cluster->GetVolume(args[0]));
  } else {
    ASSIGN_OR_RETURN(view, cluster->SetAttributes(args[0], set, {}));
  }
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

absl::Status Export(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->GetVolume(args[0]));
  // A primary that was just created, restarted or promoted serves within
  // moments: give it a few seconds before saying it does not.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (view.nbd_uri.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    ASSIGN_OR_RETURN(view, cluster->GetVolume(args[0]));
  }
  if (view.nbd_uri.empty()) {
    return absl::UnavailableError(
        absl::StrCat("volume ", view.id, ": its primary ", view.primary, " is not serving it"));
  }
  const bool tls = absl::StartsWith(view.nbd_uri, "nbds://");
  const bool clients = ctx.flags().GetBool("clients") || ctx.style().tty;
  if (!tls || (!clients && !ctx.json())) {
    // One line, nothing else: scripts use it as $(syncblock ctl export VOL).
    ctx.out() << view.nbd_uri << "\n";
    return absl::OkStatus();
  }
  // A person: the URI, then how real clients present the admin certificate.
  ASSIGN_OR_RETURN(security::TlsFiles files, AdminTlsFiles(ctx.flags()));
  ASSIGN_OR_RETURN(std::string dir, security::ClientCertificateDir(files));
  ASSIGN_OR_RETURN(ExportClients c, DescribeExportClients(view.nbd_uri, dir));
  std::string identity = files.cert;
  if (std::ifstream in(files.cert); in) {
    std::stringstream pem;
    pem << in.rdbuf();
    if (auto id = security::IdentityFromPem(pem.str()); id.ok()) identity = id->ToString();
  }
  nlohmann::json j = {
      {"uri", c.uri},           {"tls_certificates", c.cert_dir}, {"libnbd_uri", c.libnbd_uri},
      {"identity", identity},   {"nbdinfo", c.nbdinfo},           {"nbdcopy", c.nbdcopy},
      {"qemu_img", c.qemu_img}, {"qemu_object", c.qemu_object},   {"qemu_drive", c.qemu_drive}};
  ctx.Print(j, absl::StrCat(c.uri, "\n", FormatExportClients(c, identity)));
  return absl::OkStatus();
}

}  // namespace

std::vector<CtlCommand> VolumeCtlCommands() {
  return {
      WithFollowFlags(
          MakeCtlCommand({"volume", "create"}, "NAME --size SIZE [--replicas N] [--from-...]",
                         "create a replicated volume, empty or a clone of a snapshot or volume", 1,
                         1, Create)
              .Flag("size", "SIZE",
                    "size, a multiple of 4096 (e.g. 1G, 256MiB); a clone: at least "
                    "its source's (default: the source's)")
              .Flag("replicas", "N", "number of replicas, 1..5 (default 3)")
              .Flag("async-replicas", "N",
                    "of those, how many are asynchronous: in no quorum, their lag bounded "
                    "(default 0)")
              .Flag("max-lag-ms", "MS",
                    "an asynchronous replica's bound: age of the oldest write it lacks "
                    "(default 1000)")
              .Flag("max-lag-bytes", "BYTES",
                    "an asynchronous replica's bound: bytes it lacks (default 67108864)")
              .Flag("lag-policy", "POLICY",
                    "at the bound: throttle (writers wait) or pull-ahead (it resyncs later); "
                    "default throttle")
              .Flag("nodes", "A,B,...", "place the replicas on these nodes, first one primary")
              .Flag("zones", "Z1,Z2,...", "place the replicas only in these zones")
              .Flag("witness", "NODE",
                    "the witness of a 2- or 4-replica volume (default: placed on another node)")
              .Flag("no-witness", "", "no witness for a 2- or 4-replica volume")
              .Flag("from-snapshot", "VOLUME@NAME", "start as a copy of this snapshot")
              .Flag("from-volume", "VOLUME", "start as a copy of this volume as it is now")
              .Flag("wait", "", "show the copies' progress until every replica is in sync")
              .Flag("encrypted", "",
                    "encrypt at rest (AES-256-XTS) with a new data key wrapped by --key-file")
              .Flag("key-file", "FILE",
                    "the secret of an encrypted volume (or of the encrypted source of a clone)")),
      MakeCtlCommand({"volume", "unlock"}, "NAME --key-file FILE",
                     "give an encrypted volume's key to its replicas (kept in memory only)", 1, 1,
                     Unlock)
          .Flag("key-file", "FILE", "the secret the volume was created with"),
      MakeCtlCommand({"volume", "expand"}, "NAME --size SIZE",
                     "grow a volume online (NBD clients see the size when they reconnect)", 1, 1,
                     Expand)
          .Flag("size", "SIZE", "the new size, at least the current one"),
      MakeCtlCommand({"volume", "delete"}, "NAME",
                     "delete a volume and all its replicas (OK when it does not exist)", 1, 1,
                     Delete),
      MakeCtlCommand({"volume", "show"}, "NAME",
                     "a volume's primary, epoch, NBD URI and replica states", 1, 1, Show),
      MakeCtlCommand({"volume", "list"}, "", "every volume on the storage nodes", 0, 0, List),
      MakeCtlCommand({"volume", "witness"}, "NAME NODE",
                     "move a volume's witness to NODE (or give a 2- or 4-replica volume one)", 2, 2,
                     Witness),
      MakeCtlCommand({"volume", "qos"}, "NAME [--max-iops N] [--max-bandwidth BW] [--burst S]",
                     "set a volume's QoS limits live (the ones not given keep their value)", 1, 1,
                     Qos)
          .Flag("max-iops", "N", "IOs per second, reads and writes together (0: no limit)")
          .Flag("max-bandwidth", "BW", "bytes per second, e.g. 100Mi (0: no limit)")
          .Flag("burst", "S", "seconds of the limits an idle volume may spend at once"),
      MakeCtlCommand({"export"}, "VOLUME",
                     "print the NBD URI of the volume's primary (one line; with TLS, on a "
                     "terminal, also the client certificate options for nbdinfo/nbdcopy/qemu)",
                     1, 1, Export)
          .Flag("clients", "",
                "with TLS: also print the admin certificate options for nbdinfo, nbdcopy and "
                "qemu (the default on a terminal; -o json always has them)"),
  };
}

}  // namespace syncblock::driver
