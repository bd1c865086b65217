// The TLS identity our NBD initiators present to storage nodes: the CSI node
// plugin's certificate (role "node", CN = its node id), which it also hands
// to every `fuse-export` it starts. Set once at process start from the
// process's --tls-* flags (or --insecure); every NBD connection made after
// that (our own handshake, nbd_client.h, and libnbd's, nbd_io.h) does
// NBD_OPT_STARTTLS with it and refuses a server that will not (no
// downgrade to plaintext).
//
// Not set, or set insecure: plaintext, as before TLS existed (a server that
// requires TLS then refuses with NBD_REP_ERR_TLS_REQD, which the error says).
//
// Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/security/tls_context.h"
#include "replication/security/tls_files.h"

namespace syncblock::repl::initiator {

void SetNbdClientTls(const security::TlsFiles& files);
// The files set, if any (for a child process's flags).
std::optional<security::TlsFiles> NbdClientTls();
// True when connections must use TLS.
bool NbdClientTlsEnabled();
// The OpenSSL context of the files (loaded once, following rotations).
absl::StatusOr<std::shared_ptr<security::TlsContext>> NbdClientTlsContext();
// The GnuTLS-style directory of the files, for libnbd
// (security/certificate_dir.h).
absl::StatusOr<std::string> NbdClientCertificateDir();

}  // namespace syncblock::repl::initiator
