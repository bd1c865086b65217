// A volume's member between its value type and the control API's message
// (the control service answers with them, promotion sends them).
#pragma once

#include "replication/proto/control.pb.h"
#include "replication/types/volume_types.h"

namespace syncblock::repl {

MemberInfo MemberFromProto(const control::v1::Member& m);
void MemberToProto(const MemberInfo& m, control::v1::Member* out);

}  // namespace syncblock::repl
