#include "driver/ctl_export.h"

#include "absl/strings/str_cat.h"
#include "replication/initiator/nbd_client.h"

namespace syncblock::driver {

absl::StatusOr<security::TlsFiles> AdminTlsFiles(const Flags& flags) {
  security::TlsFiles files;
  if (flags.Has("cluster")) {
    const std::string dir = flags.Get("cluster") + "/tls/";
    files = {dir + "ca.crt", dir + "admin.crt", dir + "admin.key"};
  }
  if (flags.Has("tls-ca")) files.ca = flags.Get("tls-ca");
  if (flags.Has("tls-cert")) files.cert = flags.Get("tls-cert");
  if (flags.Has("tls-key")) files.key = flags.Get("tls-key");
  if (files.ca.empty() || files.cert.empty() || files.key.empty()) {
    return absl::FailedPreconditionError(
        "the export requires TLS: give the admin certificate (--tls-ca, --tls-cert, --tls-key) "
        "or --cluster DIR of a local cluster");
  }
  return files;
}

absl::StatusOr<ExportClients> DescribeExportClients(const std::string& uri,
                                                    const std::string& cert_dir) {
  auto parsed = repl::initiator::ParseNbdUri(uri);
  if (!parsed.ok()) return parsed.status();
  ExportClients c;
  c.uri = uri;
  c.cert_dir = cert_dir;
  c.libnbd_uri = absl::StrCat(uri, "?tls-certificates=", cert_dir);
  c.nbdinfo = absl::StrCat("nbdinfo '", c.libnbd_uri, "'");
  c.nbdcopy = absl::StrCat("nbdcopy '", c.libnbd_uri, "' disk.img");
  const std::string host = parsed->host.find(':') != std::string::npos
                               ? absl::StrCat("[", parsed->host, "]")
                               : parsed->host;
  c.qemu_object = absl::StrCat("tls-creds-x509,id=tls0,dir=", cert_dir, ",endpoint=client");
  c.qemu_drive = absl::StrCat("driver=nbd,host=", host, ",port=", parsed->port,
                              ",export=", parsed->export_name, ",tls-creds=tls0");
  c.qemu_img =
      absl::StrCat("qemu-img info --object ", c.qemu_object, " --image-opts ", c.qemu_drive);
  return c;
}

std::string FormatExportClients(const ExportClients& c, const std::string& identity) {
  return absl::StrCat("# TLS required; the client certificate (", identity, ") is in ", c.cert_dir,
                      "\n", "#   libnbd (nbdinfo, nbdcopy, nbdfuse, nbdsh): --tls-certificates ",
                      c.cert_dir, " or the URI\n", c.libnbd_uri, "\n",  //
                      "#   e.g.\n", c.nbdinfo, "\n", c.nbdcopy, "\n",   //
                      "#   qemu-img / qemu-io:\n", c.qemu_img, "\n",    //
                      "#   qemu-system (a VM disk):\n", "-object ", c.qemu_object,
                      " -blockdev node-name=disk0,", c.qemu_drive, "\n");
}

}  // namespace syncblock::driver
