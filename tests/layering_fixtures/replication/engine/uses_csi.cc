// Fixture for scripts/check_layering.py (not compiled): the engine library
// must not reach for the CSI spec's generated code.
#include "csi/proto/csi.pb.h"
#include "replication/engine/primary_engine.h"
