#!/usr/bin/env python3
"""Fails when two different definitions of one class/struct/union/enum name
exist in the same named namespace anywhere in our sources.

Two such definitions linked into one binary break the One Definition Rule
(the linker keeps one inline function or vtable and drops the other, e.g. a
vector's destructor with the wrong element size), and neither the compiler
nor the linker says so without LTO. This is a cheap stand-in for
`g++ -flto -Wodr`: it looks at the text, so it also catches a clash between
files that are not (yet) linked together.

Rules: a definition is `struct|class|union|enum [class] Name ... {` at the
start of a line (namespace-scope types are not indented in our style);
nested types are indented and skipped, and so are out-of-line nested
definitions (`struct Outer::Inner {`) and specialisations; types inside an anonymous namespace
have internal linkage and are skipped; forward declarations (`;`) are not
definitions. Usage: check_odr.py [ROOT_OR_FILE...] (default: the repository).
"""
import os
import re
import sys

SOURCE_DIRS = ("replication", "csi", "driver", "tests")
EXTENSIONS = (".h", ".cc")
NAMESPACE_OPEN = re.compile(r"^\s*(?:inline\s+)?namespace\s*([A-Za-z_][\w:]*)?\s*\{")
# `}  // namespace foo`, as clang-format writes it.
NAMESPACE_CLOSE = re.compile(r"^\}\s*//\s*namespace\b")
TYPE_HEAD = re.compile(
    r"^(?:template\s*<[^>]*>\s*)?(struct|class|union|enum(?:\s+class|\s+struct)?)\s+"
    r"(?:\[\[[^\]]*\]\]\s*)?([A-Za-z_]\w*)\b(?!::|\s*<)")


def is_definition(lines, index):
    """True when the type head on lines[index] opens a body ({ before ;)."""
    text = "".join(lines[index:index + 4])  # base lists wrap onto a few lines
    brace, semi = text.find("{"), text.find(";")
    return brace >= 0 and (semi < 0 or brace < semi)


def definitions(path):
    """Yields (qualified_name, line_number) for namespace-scope type definitions."""
    stack = []  # namespace names ("a::b" counts once); None for an anonymous one
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    for index, line in enumerate(lines):
        opened = NAMESPACE_OPEN.match(line)
        if opened:
            stack.append(opened.group(1))
            continue
        if stack and NAMESPACE_CLOSE.match(line):
            stack.pop()
            continue
        match = TYPE_HEAD.match(line)
        if not match or not stack or None in stack or not is_definition(lines, index):
            continue
        yield "::".join(stack + [match.group(2)]), index + 1


def source_files(roots):
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for top in SOURCE_DIRS:
            for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
                dirnames[:] = [d for d in dirnames
                               if not d.startswith(("build", ".")) and d != "odr_fixtures"]
                for name in sorted(filenames):
                    if name.endswith(EXTENSIONS):
                        yield os.path.join(dirpath, name)


def main(argv):
    roots = argv[1:] or [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")]
    seen = {}
    for path in source_files(roots):
        for name, line in definitions(path):
            seen.setdefault(name, []).append(f"{os.path.relpath(path)}:{line}")
    clashes = {name: where for name, where in seen.items() if len(where) > 1}
    for name, where in sorted(clashes.items()):
        print(f"ODR clash: {name} is defined {len(where)} times: {', '.join(where)}",
              file=sys.stderr)
    if clashes:
        print("Give each type its own name (or move one into an anonymous namespace).",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
