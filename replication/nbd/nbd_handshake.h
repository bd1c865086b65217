// The option-haggling half of the NBD fixed newstyle handshake as a state
// machine without sockets: the connection feeds it each option the client
// sends and writes back the bytes it returns. It decides which options are
// answered how (NBD_OPT_EXPORT_NAME, GO, INFO, LIST, ABORT, STARTTLS;
// NBD_REP_ERR_* for everything else), resolves the export through the
// ExportProvider and asks the ExportAuthorizer whether this client may open it.
//
// TLS (HandshakeConfig::tls): the server is in the protocol's FORCEDTLS mode.
// Before NBD_OPT_STARTTLS only STARTTLS and ABORT are served; every other
// option gets NBD_REP_ERR_TLS_REQD and NBD_OPT_EXPORT_NAME (which cannot carry
// an error) closes the connection. STARTTLS is acknowledged (kStartTls: the
// connection then runs the TLS handshake and calls OnTlsEstablished); once TLS
// is up, STARTTLS again is NBD_REP_ERR_INVALID. Without TLS configured,
// STARTTLS is NBD_REP_ERR_UNSUP (NOTLS mode).
//
// One instance per connection; not thread-safe (the connection's reader
// thread owns it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "replication/block_device.h"
#include "replication/nbd/nbd_access.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/security/certificates.h"

namespace syncblock::repl::nbd {

struct HandshakeConfig {
  BlockSizes block_sizes;
  bool multi_conn = true;
  // Option data longer than this is not buffered: the option is answered with
  // NBD_REP_ERR_TOO_BIG (NBD_OPT_INFO/GO carry at most a 4096-byte name and a
  // few info requests).
  uint32_t max_option_length = 64 * 1024;
  // Beyond this the data is not even read and discarded: a client sending it
  // is treated as a denial of service and the connection closed.
  uint32_t max_option_discard = 1024 * 1024;
  // Likewise for a client that never stops haggling.
  int max_options = 1 << 16;
  // When set, the server refuses this client (too many connections): every
  // option but ABORT gets NBD_REP_ERR_POLICY with this message (the spec's
  // "server-side policy forbids"), NBD_OPT_EXPORT_NAME (which cannot carry an
  // error) closes the connection, and so does a client that keeps trying.
  std::string refusal;
  int max_refused_options = 8;
  // FORCEDTLS: TLS is required before anything else (see above).
  bool tls = false;
  // Who may open what (null: everyone, everything). Not owned.
  ExportAuthorizer* authorizer = nullptr;
};

class Handshake {
 public:
  enum class Next {
    kContinue,      // write `reply`, then read the next option
    kClose,         // write `reply` (may be empty), then close the connection
    kTransmission,  // write `reply`, then enter the transmission phase
    kStartTls,      // write `reply` (the ACK), then run the TLS handshake
  };
  struct Outcome {
    Outcome() = default;
    Outcome(std::string r, Next n, std::string why = {})
        : reply(std::move(r)), next(n), reason(std::move(why)) {}
    std::string reply;
    Next next = Next::kContinue;
    std::string reason;  // for kClose: why, for the log
    // A refusal the server logs (access control), with the client's identity.
    std::string refused;
  };
  // What to do with an option's data, decided from its header alone.
  enum class DataPolicy { kRead, kDiscardThenTooBig, kClose };

  // `before_open` (may be empty) is called with an export name before the
  // provider is asked for it, so the server can find connections by export.
  Handshake(ExportProvider* provider, HandshakeConfig config,
            std::function<void(const std::string&)> before_open = {});

  // Handles the client flags; kClose when they are not acceptable.
  Outcome OnClientFlags(uint32_t client_flags);

  DataPolicy PolicyFor(const OptionHeader& header) const;
  // The reply to an option whose data was discarded as too long.
  Outcome OnTooBig(const OptionHeader& header);
  // Handles one whole option (header.length == data.size()).
  Outcome OnOption(const OptionHeader& header, std::string_view data);
  // The TLS handshake after kStartTls succeeded: from now on options are
  // served, for this identity.
  void OnTlsEstablished(const security::PeerIdentity& peer);
  bool tls_active() const { return tls_active_; }

  // Valid after kTransmission.
  const std::shared_ptr<BlockDevice>& device() const { return device_; }
  // Hands the device over (the handshake keeps no reference): the connection
  // drops its own when it closes, and no other copy may outlive it.
  std::shared_ptr<BlockDevice> TakeDevice() { return std::move(device_); }
  const std::string& export_name() const { return export_name_; }
  uint16_t transmission_flags() const { return transmission_flags_; }

 private:
  Outcome Count(Outcome outcome);
  Outcome Refuse(const OptionHeader& header);
  Outcome ExportName(std::string_view data);
  Outcome InfoOrGo(uint32_t option, std::string_view data);
  Outcome List(std::string_view data);
  Outcome StartTls(std::string_view data);
  // The export, when it is served here and this client may open it (wrapped
  // read-only for a read-only publication). On refusal `refusal` says why.
  std::shared_ptr<BlockDevice> Open(const std::string& name, std::string* refusal);

  ExportProvider* provider_;
  HandshakeConfig config_;
  std::function<void(const std::string&)> before_open_;
  bool no_zeroes_ = false;
  int options_seen_ = 0;
  std::shared_ptr<BlockDevice> device_;
  std::string export_name_;
  uint16_t transmission_flags_ = 0;
  bool fixed_newstyle_ = false;
  bool tls_active_ = false;
  std::optional<security::PeerIdentity> peer_;
};

}  // namespace syncblock::repl::nbd
