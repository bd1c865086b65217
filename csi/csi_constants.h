// Names the CSI driver shares with the Kubernetes side and between its own
// controller and node plugins: the driver name, the topology key, the keys of
// volume_context and publish_context, and the volume attributes the controller
// keeps in the storage nodes' manifests (it has no database of its own).
//
// Thread-safe: constants only.
#pragma once

#include <cstdint>

namespace syncblock::csi {

inline constexpr char kDriverName[] = "csi.syncblock.dev";
// Topology segments: a storage node's --zone, and the node plugin's host
// (reported by NodeGetInfo, accepted in accessibility_requirements).
inline constexpr char kTopologyZoneKey[] = "topology.csi.syncblock.dev/zone";
inline constexpr char kTopologyHostnameKey[] = "kubernetes.io/hostname";

// Volume IDs the controller derives from CSI names that are not IDs already.
inline constexpr char kHashedIdPrefix[] = "sb-";
inline constexpr int kMaxDirectIdLength = 63;

// Sizes are multiples of this; requests are rounded up to it.
inline constexpr int64_t kSizeAlignment = 4096;
inline constexpr int64_t kDefaultVolumeSize = int64_t{1} << 30;

// StorageClass parameters.
inline constexpr char kParamReplicas[] = "replicas";
inline constexpr char kParamSyncMode[] = "syncMode";
inline constexpr char kParamFsType[] = "fsType";
inline constexpr char kParamDataLocality[] = "dataLocality";
inline constexpr char kParamZoneSpread[] = "zoneSpread";
// "true": encrypted at rest (replication/doc/encryption.md), with the key
// from the CSI secrets' kSecretEncryptionPassphrase.
inline constexpr char kParamEncrypted[] = "encrypted";
// syncMode "async": how many of the replicas are asynchronous (default 1) and
// their lag bounds (replication/doc/async_replicas.md).
inline constexpr char kParamAsyncReplicas[] = "asyncReplicas";
inline constexpr char kParamMaxLagMs[] = "maxLagMs";
inline constexpr char kParamMaxLagBytes[] = "maxLagBytes";
inline constexpr char kParamLagPolicy[] = "lagPolicy";
// A snapshot-based sync to a remote cluster (replication/doc/remote_sync.md),
// with any syncMode; syncMode "snapshot" requires it. Also mutable: the
// volume's remote-sync.* attributes (replication/types/remote_sync_policy.h).
inline constexpr char kParamRemote[] = "remote";                  // a `ctl remote` name
inline constexpr char kParamRemoteInterval[] = "remoteInterval";  // "30s", "5m", "2h"
inline constexpr char kParamRemoteKeep[] = "remoteKeep";          // snapshots kept there
inline constexpr char kParamRemoteRate[] = "remoteRate";          // e.g. "50Mi" a second
inline constexpr char kParamRemoteTarget[] = "remoteTarget";      // the volume there
// The key of an encrypted volume's secret in CreateVolume,
// ControllerPublishVolume (and NodeStageVolume) secrets; the name ceph-csi
// uses.
inline constexpr char kSecretEncryptionPassphrase[] = "encryptionPassphrase";
// Mutable parameters (CreateVolume.mutable_parameters, ControllerModifyVolume,
// a VolumeAttributesClass): replicas and syncMode above, and QoS.
inline constexpr char kParamMaxIops[] = "maxIops";
inline constexpr char kParamMaxBandwidth[] = "maxBandwidth";
inline constexpr char kParamBurst[] = "burst";
// Keys the sidecars add (PVC name, namespace, ...): accepted and ignored.
inline constexpr char kSidecarParamPrefix[] = "csi.storage.k8s.io/";

// volume_context returned by CreateVolume: the normalized parameters under
// their StorageClass names (fsType, replicas, syncMode, dataLocality,
// zoneSpread), so the node plugin knows which filesystem to make.

// publish_context returned by ControllerPublishVolume.
inline constexpr char kPublishNbdUri[] = "nbdUri";          // nbd://host:port/ID at publish time
inline constexpr char kPublishExportName[] = "exportName";  // the volume ID
// Comma-separated control addresses (host:port) of the replicas' storage
// nodes: the primary can move, and any of them names the current one.
inline constexpr char kPublishStorageNodes[] = "storageNodes";
inline constexpr char kPublishReadonly[] = "readonly";  // "true" | "false"

// Volume attributes (manifest) kept by the controller.
inline constexpr char kAttrName[] = "csi.name";                  // the CSI name
inline constexpr char kAttrCapabilities[] = "csi.capabilities";  // summary at creation
inline constexpr char kAttrParamPrefix[] = "csi.param.";         // + parameter name
inline constexpr char kAttrZones[] = "csi.zones";                // zones of the replicas
inline constexpr char kAttrPublishPrefix[] = "csi.pub.";         // + CSI node id
// The CreateVolume content source of a clone: "snapshot:VOLUME@NAME" or
// "volume:ID". Compared on a re-create and returned as content_source.
inline constexpr char kAttrContentSource[] = "csi.source";
inline constexpr char kSourceSnapshotPrefix[] = "snapshot:";
inline constexpr char kSourceVolumePrefix[] = "volume:";

}  // namespace syncblock::csi
