// A process's TLS identity as the directory that GnuTLS-based NBD clients
// want: libnbd (nbd_set_tls_certificates, nbdinfo/nbdcopy/nbdfuse
// `--tls-certificates`, an nbds:// URI's `tls-certificates=DIR`) and qemu
// (`--object tls-creds-x509,dir=DIR,endpoint=client`) read exactly
// ca-cert.pem, client-cert.pem and client-key.pem from one directory.
//
// The directory holds symlinks to the TlsFiles' paths, so a rotated
// certificate is what the next connection reads, and the private key is not
// copied. It is made next to the certificate (`<cert without .crt>.nbd/`),
// or, where that directory is read-only (a mounted Secret, as in every pod),
// in a private directory under $TMPDIR (or /tmp) named after the
// certificate's path.
//
// Thread-compatible: two processes making the same directory at once both
// end with the same links (each link is made under a temporary name and
// renamed over).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "replication/security/tls_files.h"

namespace syncblock::security {

// The directory for `files` (made or brought up to date). INVALID_ARGUMENT
// when `files` is insecure or names no certificate; INTERNAL when the
// directory cannot be made.
absl::StatusOr<std::string> ClientCertificateDir(const TlsFiles& files);

}  // namespace syncblock::security
