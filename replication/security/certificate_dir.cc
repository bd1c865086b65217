#include "replication/security/certificate_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace syncblock::security {
namespace {

namespace fs = std::filesystem;

absl::Status Link(const std::string& target, const std::string& link) {
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == fs::path(target)) {
    return absl::OkStatus();
  }
  std::string tmp = absl::StrCat(link, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), link.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot link ", link, " to ", target, ": ", err));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ClientCertificateDirPath(const TlsFiles& files) {
  std::string stem = files.cert;
  for (const char* ext : {".crt", ".pem", ".cert"}) {
    if (absl::EndsWith(stem, ext)) {
      stem.resize(stem.size() - std::strlen(ext));
      break;
    }
  }
  return absl::StrCat(stem, ".nbd");
}

absl::StatusOr<std::string> ClientCertificateDir(const TlsFiles& files) {
  if (files.insecure) return absl::InvalidArgumentError("TLS is off (--insecure)");
  if (absl::Status s = files.Validate(); !s.ok()) return s;
  std::error_code ec;
  // Absolute targets: the links must not depend on the directory they sit in.
  auto abs = [&](const std::string& p) { return fs::absolute(p, ec).lexically_normal().string(); };
  const std::string dir = abs(ClientCertificateDirPath(files));
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot make ", dir, ": ", ec.message()));
  if (absl::Status s = Link(abs(files.ca), dir + "/ca-cert.pem"); !s.ok()) return s;
  if (absl::Status s = Link(abs(files.cert), dir + "/client-cert.pem"); !s.ok()) return s;
  if (absl::Status s = Link(abs(files.key), dir + "/client-key.pem"); !s.ok()) return s;
  return dir;
}

}  // namespace syncblock::security
