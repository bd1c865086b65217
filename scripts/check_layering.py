#!/usr/bin/env python3
"""Fails when a source file includes a header from a layer it must not use.

The layers (lowest first), each listed with the project headers it may
include besides its own folder and third-party ones:

  replication/util    nothing: the base library every other part links
  replication/types   util
  replication/wire    util, types (not store/: the wire format and the disk
                      format share only plain types)
  replication/store   util, types
  replication/security util (TLS and certificates, below the engine and NBD)
  replication/**      anything under replication/, never csi/ or driver/
                      (the engine library links no CSI code, csi.pb included)
  csi/**              replication/, csi/; never driver/

Usage: check_layering.py [ROOT] (default: the repository).
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# (folder, allowed project prefixes besides the folder itself); first match wins.
RULES = [
    ("replication/util/", ["replication/util/"]),
    ("replication/types/", ["replication/util/", "replication/types/"]),
    ("replication/wire/", ["replication/util/", "replication/types/", "replication/wire/"]),
    ("replication/store/", ["replication/util/", "replication/types/", "replication/store/"]),
    ("replication/security/", ["replication/util/", "replication/security/"]),
    ("replication/", ["replication/"]),
    ("csi/", ["replication/", "csi/"]),
]
PROJECT_PREFIXES = ("replication/", "csi/", "driver/", "tests/")


def violations(root):
    for top in ("replication", "csi", "driver"):
        for dirpath, _, filenames in os.walk(os.path.join(root, top)):
            for name in sorted(filenames):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                allowed = next((a for folder, a in RULES if rel.startswith(folder)), None)
                if allowed is None:
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or not m.group(1).startswith(PROJECT_PREFIXES):
                            continue
                        header = m.group(1)
                        if not any(header.startswith(a) for a in allowed):
                            yield f"{rel}:{number}: includes {header}"


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    found = list(violations(root))
    for v in found:
        print(f"layering: {v}", file=sys.stderr)
    if found:
        print("See scripts/check_layering.py for which layer may include what.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
