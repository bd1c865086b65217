// TEMPORARY: the identity part of certificates.cc, until the lead's
// certificates.cc lands on main; deleted by the merge of main.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "replication/security/certificates.h"

namespace syncblock::security {
namespace {

std::string Entry(X509_NAME* name, int nid) {
  int at = X509_NAME_get_index_by_NID(name, nid, -1);
  if (at < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

std::string PeerIdentity::ToString() const { return absl::StrCat(name, " (", role, ")"); }

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

absl::StatusOr<PeerIdentity> IdentityOf(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  PeerIdentity id{Entry(subject, NID_commonName), Entry(subject, NID_organizationalUnitName)};
  if (id.name.empty()) return absl::InvalidArgumentError("certificate has no subject CN");
  return id;
}

absl::StatusOr<PeerIdentity> IdentityFromPem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()),
                                                BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return absl::InvalidArgumentError("not a PEM certificate: " + OpenSslErrors());
  return IdentityOf(cert.get());
}

}  // namespace syncblock::security
