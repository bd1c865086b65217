// The certificates of a local cluster, made by `local up` under DIR/tls/:
//
//   ca.crt, ca.key            the cluster's CA
//   node-N.crt/.key           each storage node (CN node-N, OU storage,
//                             SAN 127.0.0.1 and localhost)
//   controller.crt/.key       the CSI plugin (`csi --mode all`, OU controller)
//   <csi node id>-csi.crt/.key
//                             a CSI node plugin's identity (CN = its CSI node
//                             id, OU node), for a plugin run with --mode node
//   admin.crt/.key            ctl (OU admin), found through cluster.json
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "driver/local_cluster_file.h"
#include "replication/security/tls_files.h"

namespace syncblock::driver {

// Makes the CA and every certificate above (overwriting what is there).
// `ca_from`: another local cluster's directory whose CA this one shares
// (copied), so that the two trust each other: a remote sync between them
// (replication/doc/remote_sync.md).
absl::StatusOr<LocalTls> MakeLocalCertificates(const std::string& dir,
                                               const std::vector<std::string>& storage_ids,
                                               const std::string& csi_node_id,
                                               const std::string& ca_from = "");

// DIR/tls/<file_name>.crt/.key with the cluster's CA; --insecure when the
// cluster is plaintext.
security::TlsFiles LocalProcessTls(const LocalTls& tls, const std::string& file_name);

// The file name of a CSI node plugin's certificate.
std::string CsiNodeCertName(const std::string& csi_node_id);

}  // namespace syncblock::driver
