// Who may open which NBD export: the data path's access control (DESIGN.md
// rule 8; replication/doc/nbd_tls.md). After NBD_OPT_STARTTLS the client's
// verified certificate names it (security::PeerIdentity: CN and role in OU),
// and the decision is made from that identity and the volume's publications,
// which the CSI controller records in every replica's manifest attributes as
// "csi.pub.<node id>" = "<rw|ro>,<block|mount>,<ACCESS_MODE>"
// (csi/publications.h; parsed here again, since replication/ does not use
// csi/):
//
//   role "node"        (a CSI node plugin, CN = its node id): only a volume
//                      published to that node; read-only when published ro.
//   role "admin"       (a person's ctl): every volume, read-write.
//   role "storage",    no NBD access: storage nodes copy data over the
//   "controller"       replication protocol and the controller never opens
//                      an export, so their certificates do not open volumes.
//   anything else      no access.
//   no identity        (plaintext, --insecure): every volume, read-write.
//
// Thread-safe: the functions are pure; PublicationAuthorizer calls its
// attribute source, which must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "replication/block_device.h"
#include "replication/security/certificates.h"

namespace syncblock::repl::nbd {

// The attribute prefix of a publication (csi/publications.h).
inline constexpr char kPublicationAttrPrefix[] = "csi.pub.";

enum class Access { kNone, kReadOnly, kReadWrite };

struct AccessDecision {
  Access access = Access::kNone;
  // For kNone: why, for the client (NBD_REP_ERR_POLICY text) and the log.
  std::string reason;
};

// The publication of `volume` to `node_id` in `attributes`: kReadOnly for
// "ro,...", kReadWrite for "rw,...", kNone when there is none (or it does
// not parse: it was not written by us).
Access PublishedAccess(const std::map<std::string, std::string>& attributes,
                       const std::string& node_id);

// The rules in the header comment. `peer` null: no TLS (everything allowed).
// `attributes` are the volume's manifest attributes.
AccessDecision DecideAccess(const security::PeerIdentity* peer, const std::string& volume,
                            const std::map<std::string, std::string>& attributes);

// Decides for the NBD server which export a client may open, and how.
class ExportAuthorizer {
 public:
  virtual ~ExportAuthorizer() = default;
  virtual AccessDecision Authorize(const security::PeerIdentity* peer,
                                   const std::string& export_name) = 0;
};

// DecideAccess over the attributes `attributes_of` returns for an export
// (nullopt: the volume is not known here, which refuses every identity but
// the plaintext one).
class PublicationAuthorizer : public ExportAuthorizer {
 public:
  using AttributesOf =
      std::function<std::optional<std::map<std::string, std::string>>(const std::string&)>;
  explicit PublicationAuthorizer(AttributesOf attributes_of)
      : attributes_of_(std::move(attributes_of)) {}
  AccessDecision Authorize(const security::PeerIdentity* peer,
                           const std::string& export_name) override;

 private:
  AttributesOf attributes_of_;
};

// A device that refuses every write (PERMISSION_DENIED, which the server
// answers EPERM) and says it is read-only, so the export is advertised with
// NBD_FLAG_READ_ONLY: a read-only publication enforced on the server side.
class ReadOnlyDevice : public BlockDevice {
 public:
  explicit ReadOnlyDevice(std::shared_ptr<BlockDevice> inner) : inner_(std::move(inner)) {}
  uint64_t Size() const override { return inner_->Size(); }
  bool ReadOnly() const override { return true; }
  void Submit(std::shared_ptr<IoRequest> request) override;

 private:
  std::shared_ptr<BlockDevice> inner_;
};

}  // namespace syncblock::repl::nbd
