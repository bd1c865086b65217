#include "driver/local_tls.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "replication/security/certificates.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {
namespace {

std::string TlsDir(const std::string& ca) {
  return std::filesystem::path(ca).parent_path().string();
}

}  // namespace

std::string CsiNodeCertName(const std::string& csi_node_id) {
  return absl::StrCat(csi_node_id, "-csi");
}

security::TlsFiles LocalProcessTls(const LocalTls& tls, const std::string& file_name) {
  if (tls.insecure) return {"", "", "", true};
  std::string base = absl::StrCat(TlsDir(tls.ca), "/", file_name);
  return {tls.ca, base + ".crt", base + ".key", false};
}

absl::StatusOr<LocalTls> MakeLocalCertificates(const std::string& dir,
                                               const std::vector<std::string>& storage_ids,
                                               const std::string& csi_node_id,
                                               const std::string& ca_from) {
  const std::string tls_dir = dir + "/tls";
  std::error_code ec;
  std::filesystem::create_directories(tls_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", tls_dir, ": ", ec.message()));
  std::filesystem::permissions(tls_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  LocalTls tls;
  tls.ca = tls_dir + "/ca.crt";
  tls.ca_key = tls_dir + "/ca.key";
  const security::PemFiles ca{tls.ca, tls.ca_key};
  if (ca_from.empty()) {
    // A certificate's common name holds at most 64 characters: a long
    // directory's path is named by its end.
    std::string name = absl::StrCat("syncblock local CA (", dir, ")");
    if (name.size() > 64)
      name = absl::StrCat("syncblock local CA (...", dir.substr(dir.size() - 39), ")");
    RETURN_IF_ERROR(security::CreateCertificateAuthority(ca, name));
  } else {
    for (const char* name : {"ca.crt", "ca.key"}) {
      const std::string from = absl::StrCat(ca_from, "/tls/", name);
      std::filesystem::copy_file(from, absl::StrCat(tls_dir, "/", name),
                                 std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("--ca-from ", ca_from, ": copying ", from, ": ", ec.message()));
      }
    }
  }
  auto issue = [&](const std::string& file_name, const std::string& cn,
                   const std::string& role) -> absl::Status {
    security::TlsFiles files = LocalProcessTls(tls, file_name);
    return security::IssueCertificate(ca, {cn, role, {"localhost"}, {"127.0.0.1"}},
                                      {files.cert, files.key});
  };
  for (const auto& id : storage_ids) RETURN_IF_ERROR(issue(id, id, security::kRoleStorage));
  RETURN_IF_ERROR(issue("controller", "controller", security::kRoleController));
  if (!csi_node_id.empty()) {
    RETURN_IF_ERROR(issue(CsiNodeCertName(csi_node_id), csi_node_id, security::kRoleNode));
  }
  RETURN_IF_ERROR(issue("admin", "admin", security::kRoleAdmin));
  security::TlsFiles admin = LocalProcessTls(tls, "admin");
  tls.admin_cert = admin.cert;
  tls.admin_key = admin.key;
  return tls;
}

}  // namespace syncblock::driver
