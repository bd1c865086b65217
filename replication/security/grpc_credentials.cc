#include "replication/security/grpc_credentials.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "replication/util/logging.h"

namespace syncblock::security {
namespace {

namespace gx = grpc::experimental;

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX, X509_STORE_CTX_free>>;

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read it"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

BioPtr Bio(const std::string& pem) { return BioPtr(BIO_new_mem_buf(pem.data(), pem.size())); }

// Role of the server a control channel accepts: a storage node, whatever its
// address. Replaces gRPC's host name check (see the header).
class StorageServerVerifier final : public gx::ExternalCertificateVerifier {
 public:
  bool Verify(gx::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    grpc::string_ref chain = request->peer_cert_full_chain();
    grpc::string_ref pem = request->peer_cert();
    auto id = IdentityFromPemChain(std::string(pem.data(), pem.size()) + "\n" +
                                   std::string(chain.data(), chain.size()));
    if (!id.ok()) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  absl::StrCat("server certificate: ", id.status().message()));
    } else if (id->role != kRoleStorage) {
      *sync_status = grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the server's certificate names ", id->ToString(),
                       ", not a storage node: only storage nodes serve the control API"));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;
  }
  void Cancel(gx::TlsCustomVerificationCheckRequest*) override {}
};

using FilesKey = std::tuple<std::string, std::string, std::string>;

struct Cache {
  std::mutex mu;
  // One watcher per set of files: each runs its own thread.
  std::map<FilesKey, std::shared_ptr<gx::FileWatcherCertificateProvider>> providers;
  std::map<FilesKey, std::shared_ptr<grpc::ChannelCredentials>> channels;
  bool process_set = false;
  TlsFiles process_files;
};

Cache& TheCache() {
  static Cache* cache = new Cache;
  return *cache;
}

std::shared_ptr<gx::FileWatcherCertificateProvider> ProviderLocked(Cache& c,
                                                                   const TlsFiles& files) {
  auto& slot = c.providers[{files.ca, files.cert, files.key}];
  if (!slot) {
    slot = std::make_shared<gx::FileWatcherCertificateProvider>(files.key, files.cert, files.ca,
                                                                kCertificateReloadSeconds);
  }
  return slot;
}

}  // namespace

absl::StatusOr<PeerIdentity> CheckTlsFiles(const TlsFiles& files) {
  if (files.insecure) return PeerIdentity{"plaintext", ""};
  if (absl::Status s = files.Validate(); !s.ok()) return s;
  auto ca_pem = ReadPem(files.ca, "--tls-ca");
  auto cert_pem = ReadPem(files.cert, "--tls-cert");
  auto key_pem = ReadPem(files.key, "--tls-key");
  for (const auto* s : {&ca_pem, &cert_pem, &key_pem}) {
    if (!s->ok()) return s->status();
  }
  StorePtr store(X509_STORE_new());
  BioPtr ca_bio = Bio(*ca_pem);
  int cas = 0;
  while (X509Ptr ca{PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr)}) {
    X509_STORE_add_cert(store.get(), ca.get());
    ++cas;
  }
  OpenSslErrors();  // the end of the bundle reads as an error
  if (cas == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-ca ", files.ca, ": no PEM certificate in it"));
  }
  BioPtr cert_bio = Bio(*cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert ", files.cert, ": not a PEM certificate: ", OpenSslErrors()));
  }
  BioPtr key_bio = Bio(*key_pem);
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    // The file's content is a secret: only OpenSSL's reason goes out.
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key, ": not a PEM private key: ", OpenSslErrors()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    OpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key ", files.key, " is not the key of --tls-cert ", files.cert));
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    OpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", files.cert,
                                                   " does not verify against --tls-ca ", files.ca,
                                                   ": ", X509_verify_cert_error_string(err)));
  }
  auto id = IdentityOf(cert.get());
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert ", files.cert, ": ", id.status().message()));
  }
  return id;
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsFiles& files) {
  if (files.insecure) return grpc::InsecureServerCredentials();
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  gx::TlsServerCredentialsOptions options(ProviderLocked(c, files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return gx::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> GrpcChannelCredentials(const TlsFiles& files) {
  if (files.insecure) return grpc::InsecureChannelCredentials();
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto& slot = c.channels[{files.ca, files.cert, files.key}];
  if (!slot) {
    gx::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(ProviderLocked(c, files));
    options.watch_root_certs();
    options.watch_identity_key_cert_pairs();
    options.set_verify_server_certs(true);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        gx::ExternalCertificateVerifier::Create<StorageServerVerifier>());
    slot = gx::TlsCredentials(options);
  }
  return slot;
}

void SetProcessTlsFiles(const TlsFiles& files) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.process_files = files;
  c.process_set = true;
}

std::optional<TlsFiles> ProcessTlsFiles() {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (!c.process_set) return std::nullopt;
  return c.process_files;
}

std::shared_ptr<grpc::ChannelCredentials> ProcessChannelCredentials() {
  TlsFiles files;
  {
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.process_set) {
      static std::once_flag once;
      std::call_once(once, [] {
        spdlog::error(
            "no TLS files were set for this process: control connections will fail their "
            "handshake (a bug: the command must call SetProcessTlsFiles)");
      });
      return grpc::SslCredentials(grpc::SslCredentialsOptions{});
    }
    files = c.process_files;
  }
  return GrpcChannelCredentials(files);
}

std::string DescribeConnectFailure(const std::string& grpc_message) {
  static constexpr const char* kTlsSigns[] = {"Handshake",   "handshake", "SSL",          "ssl",
                                              "certificate", "alert",     "Socket closed"};
  for (const char* sign : kTlsSigns) {
    if (grpc_message.find(sign) != std::string::npos) {
      return absl::StrCat("TLS handshake failed (", grpc_message,
                          "): do this client and the node have certificates from the same CA?");
    }
  }
  return grpc_message;
}

absl::StatusOr<PeerIdentity> CallerIdentity(const grpc::ServerContext& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the call came without a client certificate");
  }
  // The chain the client presented, when gRPC gives it: a role-limited
  // signing CA in it limits the roles its certificates may claim.
  // (gRPC gives the leaf and, apart, the certificates above it.)
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return absl::UnauthenticatedError("the client certificate is not available");
  std::string text(pem.front().data(), pem.front().size());
  for (const auto& c : auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME)) {
    text.append("\n").append(c.data(), c.size());
  }
  return IdentityFromPemChain(text);
}

}  // namespace syncblock::security
