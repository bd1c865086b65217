// nbd_tls_bench_server: the storage node's NbdServer over one file-backed
// export, with or without TLS, for nbd_tls_bench.sh to measure what TLS
// costs on the NBD data path with a real client (fio's nbd engine, libnbd).
// A measurement helper, not a test.
//
//   nbd_tls_bench_server --pki DIR            make a CA, a storage certificate
//                                             (s1) and an admin one, and the
//                                             admin's libnbd directory; exit
//   nbd_tls_bench_server --file F --size BYTES --port-file P [--pki DIR]
//                                             serve F as export "bench" on
//                                             127.0.0.1 (TLS with DIR's s1
//                                             certificate when --pki is
//                                             given) until SIGTERM
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "replication/nbd/nbd_server.h"
#include "replication/security/certificate_dir.h"
#include "replication/security/certificates.h"
#include "replication/security/tls_context.h"
#include "tests/replication/nbd_test_device.h"

namespace {

using namespace syncblock;

std::string Arg(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return "";
}

int MakePki(const std::string& dir) {
  ::mkdir(dir.c_str(), 0700);
  security::PemFiles ca{dir + "/ca.crt", dir + "/ca.key"};
  if (auto s = security::CreateCertificateAuthority(ca, "bench CA"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  for (auto [name, role] :
       {std::pair{"s1", security::kRoleStorage}, std::pair{"admin", security::kRoleAdmin}}) {
    security::CertificateRequest req{name, role, {"localhost"}, {"127.0.0.1"}};
    std::string base = dir + "/" + name;
    if (auto s = security::IssueCertificate(ca, req, {base + ".crt", base + ".key"}); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  auto out =
      security::ClientCertificateDir({dir + "/ca.crt", dir + "/admin.crt", dir + "/admin.key"});
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", out->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string pki = Arg(argc, argv, "pki");
  const std::string file = Arg(argc, argv, "file");
  if (file.empty()) {
    if (pki.empty()) {
      std::fprintf(stderr, "usage: see the header of nbd_tls_bench_server.cc\n");
      return 2;
    }
    return MakePki(pki);
  }
  const uint64_t size = std::strtoull(Arg(argc, argv, "size").c_str(), nullptr, 10);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto provider = std::make_shared<repl::nbdtest::MapExportProvider>();
  provider->Add("bench", std::make_shared<repl::nbdtest::FileBlockDevice>(file, size, false));
  repl::NbdServerOptions options;
  if (!pki.empty()) {
    auto ctx = security::TlsContext::Load({pki + "/ca.crt", pki + "/s1.crt", pki + "/s1.key"});
    if (!ctx.ok()) {
      std::fprintf(stderr, "%s\n", ctx.status().ToString().c_str());
      return 1;
    }
    options.tls = *ctx;
    // Authorisation as a storage node does it (admin opens everything).
    options.authorizer = std::make_shared<repl::nbd::PublicationAuthorizer>(
        [](const std::string&) { return std::map<std::string, std::string>{}; });
  }
  repl::NbdServer server(provider, options);
  if (auto s = server.Listen("127.0.0.1", 0); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  {
    std::ofstream out(Arg(argc, argv, "port-file") + ".tmp");
    out << server.port() << "\n";
  }
  std::rename((Arg(argc, argv, "port-file") + ".tmp").c_str(),
              Arg(argc, argv, "port-file").c_str());
  int sig;
  sigwait(&set, &sig);
  server.Stop();
  return 0;
}
