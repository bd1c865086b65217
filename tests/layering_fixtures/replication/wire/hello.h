// Fixture for scripts/check_layering.py (not compiled): wire/ as it was,
// taking MemberInfo from the store's manifest header.
#pragma once

#include "replication/store/manifest.h"
#include "replication/wire/wire_format.h"
