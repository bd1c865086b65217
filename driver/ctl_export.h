// `syncblock ctl export VOLUME`: where a person (or a script) reaches a
// volume over NBD. The first line is always the URI alone (scripts take it
// as $(syncblock ctl export VOL)). When the export requires TLS (an nbds://
// URI), a terminal (or --clients, or -o json) also gets the options that
// make nbdinfo/nbdcopy/nbdfuse and qemu present the admin certificate: the
// GnuTLS-style directory of ca-cert.pem, client-cert.pem, client-key.pem
// (security/certificate_dir.h) made next to the admin's certificate.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "driver/flags.h"
#include "replication/security/tls_files.h"

namespace syncblock::driver {

// The admin's TLS files: --tls-ca/--tls-cert/--tls-key when given, else the
// local cluster's (--cluster DIR: DIR/tls/ca.crt, admin.crt, admin.key).
absl::StatusOr<security::TlsFiles> AdminTlsFiles(const Flags& flags);

struct ExportClients {
  std::string uri;         // nbds://host:port/VOL
  std::string cert_dir;    // the directory the clients read
  std::string libnbd_uri;  // the URI with ?tls-certificates=DIR
  std::string nbdinfo;     // command lines
  std::string nbdcopy;
  std::string qemu_img;
  std::string qemu_object;  // the -object/-drive options for qemu-system
  std::string qemu_drive;
};

// The client options for `uri` (an nbds:// URI) with the certificates in
// `cert_dir`. INVALID_ARGUMENT when `uri` does not parse.
absl::StatusOr<ExportClients> DescribeExportClients(const std::string& uri,
                                                    const std::string& cert_dir);

// For the terminal: the commands, one per line, with a heading.
std::string FormatExportClients(const ExportClients& c, const std::string& identity);

}  // namespace syncblock::driver
