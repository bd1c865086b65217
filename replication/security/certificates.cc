#include "replication/security/certificates.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/util/status_macros.h"

namespace syncblock::security {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(FILE* p) const { fclose(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using X509Ptr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;
using FilePtr = std::unique_ptr<FILE, Free>;

absl::Status Failed(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", OpenSslErrors()));
}

absl::StatusOr<FilePtr> OpenForWrite(const std::string& path, mode_t mode) {
  // Written to a temporary name and renamed by the caller, so that a process
  // reloading its files never reads half of one.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  // An existing file keeps its mode through O_CREAT; a key must not.
  FILE* f = fchmod(fd, mode) == 0 ? fdopen(fd, "w") : nullptr;
  if (f == nullptr) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  return FilePtr(f);
}

absl::Status CommitFile(FilePtr file, const std::string& tmp, const std::string& path) {
  if (fflush(file.get()) != 0 || fsync(fileno(file.get())) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  file.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WritePem(const PemFiles& out, X509* cert, EVP_PKEY* key) {
  std::string key_tmp = out.key + ".tmp";
  ASSIGN_OR_RETURN(FilePtr kf, OpenForWrite(key_tmp, 0600));
  if (PEM_write_PrivateKey(kf.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Failed(absl::StrCat("cannot write the key ", out.key));
  }
  std::string cert_tmp = out.cert + ".tmp";
  ASSIGN_OR_RETURN(FilePtr cf, OpenForWrite(cert_tmp, 0644));
  if (PEM_write_X509(cf.get(), cert) != 1) {
    return Failed(absl::StrCat("cannot write the certificate ", out.cert));
  }
  // The key first: a reader that sees the new certificate finds its key.
  RETURN_IF_ERROR(CommitFile(std::move(kf), key_tmp, out.key));
  return CommitFile(std::move(cf), cert_tmp, out.cert);
}

absl::StatusOr<PkeyPtr> NewKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Failed("cannot make an EC P-256 key");
  return key;
}

absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* key, const std::string& cn,
                                       const std::string& role, std::chrono::hours validity) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) return Failed("cannot make a certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Failed("no random serial");
  serial[0] &= 0x7f;  // a positive serial
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool serial_ok =
      bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(bn);
  if (!serial_ok) return Failed("cannot set the serial");
  // Valid from an hour ago, so that a peer whose clock is a little behind
  // does not refuse a certificate made a moment ago.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  std::chrono::duration_cast<std::chrono::seconds>(validity).count());
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", "syncblock") || (!role.empty() && !add("OU", role)) || !add("CN", cn)) {
    return Failed(absl::StrCat("cannot name the certificate ", cn));
  }
  if (X509_set_pubkey(cert.get(), key) != 1) return Failed("cannot set the public key");
  return cert;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Failed(absl::StrCat("bad extension ", value));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return Failed(absl::StrCat("cannot add extension ", value));
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> ReadCert(const std::string& path) {
  FilePtr f(fopen(path.c_str(), "r"));
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return Failed(absl::StrCat(path, " holds no PEM certificate"));
  return cert;
}

absl::StatusOr<PkeyPtr> ReadKey(const std::string& path) {
  FilePtr f(fopen(path.c_str(), "r"));
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  PkeyPtr key(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  // The file's content never goes into the message: it is a secret.
  if (!key) return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM private key"));
  return key;
}

std::string NameEntry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

std::string PeerIdentity::ToString() const {
  return role.empty() ? name : absl::StrCat(name, " (", role, ")");
}

std::string OpenSslErrors() {
  std::vector<std::string> errors;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    errors.emplace_back(buf);
  }
  return errors.empty() ? "no detail from OpenSSL" : absl::StrJoin(errors, "; ");
}

absl::Status CreateCertificateAuthority(const PemFiles& out, const std::string& name,
                                        std::chrono::hours validity) {
  ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(key.get(), name, "", validity));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return Failed("cannot set the issuer");
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return Failed("cannot sign the CA");
  return WritePem(out, cert.get(), key.get());
}

absl::Status IssueCertificate(const PemFiles& ca, const CertificateRequest& request,
                              const PemFiles& out) {
  if (request.common_name.empty()) return absl::InvalidArgumentError("a certificate needs a name");
  ASSIGN_OR_RETURN(X509Ptr ca_cert, ReadCert(ca.cert));
  ASSIGN_OR_RETURN(PkeyPtr ca_key, ReadKey(ca.key));
  ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  ASSIGN_OR_RETURN(X509Ptr cert,
                   NewCertificate(key.get(), request.common_name, request.role, request.validity));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return Failed("cannot set the issuer");
  }
  if (request.is_ca) {
    RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints,
                                 "critical,CA:TRUE,pathlen:0"));
    RETURN_IF_ERROR(
        AddExtension(cert.get(), ca_cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    RETURN_IF_ERROR(
        AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
    // keyEncipherment too: qemu's x509 credentials check for it on client
    // and server certificates.
    RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage,
                                 "critical,digitalSignature,keyEncipherment"));
    RETURN_IF_ERROR(
        AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  std::vector<std::string> sans;
  for (const auto& d : request.dns_names) sans.push_back("DNS:" + d);
  for (const auto& ip : request.ip_addresses) sans.push_back("IP:" + ip);
  if (!sans.empty()) {
    RETURN_IF_ERROR(
        AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, absl::StrJoin(sans, ",")));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return Failed(absl::StrCat("cannot sign the certificate of ", request.common_name));
  }
  return WritePem(out, cert.get(), key.get());
}

absl::StatusOr<PeerIdentity> IdentityOf(X509* cert) {
  if (cert == nullptr) return absl::UnauthenticatedError("the peer presented no certificate");
  X509_NAME* name = X509_get_subject_name(cert);
  PeerIdentity id{NameEntry(name, NID_commonName), NameEntry(name, NID_organizationalUnitName)};
  if (id.name.empty()) return absl::InvalidArgumentError("the peer's certificate has no CN");
  return id;
}

absl::StatusOr<PeerIdentity> IdentityFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return absl::InvalidArgumentError("not a PEM certificate");
  return IdentityOf(cert.get());
}

absl::StatusOr<PeerIdentity> IdentityOfChain(const std::vector<X509*>& chain) {
  if (chain.empty()) return absl::UnauthenticatedError("the peer presented no certificate");
  ASSIGN_OR_RETURN(PeerIdentity id, IdentityOf(chain[0]));
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_NAME* name = X509_get_subject_name(chain[i]);
    std::string limited_to = NameEntry(name, NID_organizationalUnitName);
    if (!limited_to.empty() && limited_to != id.role) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the certificate of ", id.ToString(), " was signed by ", NameEntry(name, NID_commonName),
          ", a CA that signs only role ", limited_to, " certificates"));
    }
  }
  return id;
}

absl::StatusOr<PeerIdentity> IdentityFromPemChain(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> owned;
  while (bio) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    owned.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the text reads as an error
  if (owned.empty()) return absl::InvalidArgumentError("not a PEM certificate chain");
  // The leaf first, whatever order the text has (gRPC's chain property is
  // not always leaf-first): the one certificate that is not a CA.
  // The same leaf may come twice (given alone and within the chain).
  X509* leaf = nullptr;
  for (auto& c : owned) {
    if (X509_check_ca(c.get()) != 0) continue;
    if (leaf != nullptr && X509_cmp(leaf, c.get()) != 0) {
      return absl::UnauthenticatedError("the peer presented two different end-entity certificates");
    }
    leaf = c.get();
  }
  if (leaf == nullptr)
    return absl::UnauthenticatedError("the peer presented no end-entity certificate");
  std::vector<X509*> chain{leaf};
  for (auto& c : owned) {
    if (X509_check_ca(c.get()) != 0) chain.push_back(c.get());
  }
  return IdentityOfChain(chain);
}

}  // namespace syncblock::security
