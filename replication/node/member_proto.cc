#include "replication/node/member_proto.h"

namespace syncblock::repl {

MemberInfo MemberFromProto(const control::v1::Member& m) {
  return {m.node_id(),
          m.control_address(),
          m.replication_address(),
          m.nbd_address(),
          m.zone(),
          m.witness(),
          m.async()};
}

void MemberToProto(const MemberInfo& m, control::v1::Member* out) {
  out->set_node_id(m.node_id);
  out->set_control_address(m.control_address);
  out->set_replication_address(m.replication_address);
  out->set_nbd_address(m.nbd_address);
  out->set_zone(m.zone);
  out->set_witness(m.witness);
  out->set_async(m.async);
}

}  // namespace syncblock::repl
