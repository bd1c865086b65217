"""The "Values" table of charts/syncblock/README.md, generated from the
comments in values.yaml (the helm-docs convention: a `# -- text` comment right
above a key documents it, with everything under it).

usage: values_doc.py CHART_DIR           check: exit 1 when a value has no
                                          `# --` comment or README.md's table
                                          is not what values.yaml gives
       values_doc.py CHART_DIR --write   rewrite the table in README.md

The table sits between the markers <!-- values:begin --> and <!-- values:end -->.
"""
import json
import os
import re
import sys

import yaml

BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"
KEY = re.compile(r'^(\s*)([A-Za-z0-9_.\-/]+|"[^"]+"):(\s.*)?$')


def parse(text):
    """[(path, depth, doc or None, has_children)] for every key, in file order."""
    entries, stack, pending = [], [], None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if body.startswith("--"):
                pending = [body[2:].strip()]
            elif pending is not None:
                pending.append(body)
            continue
        m = KEY.match(line)
        if not m:  # a list item or a continuation: part of the value above
            pending = None
            continue
        indent, key = len(m.group(1)), m.group(2).strip('"')
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [key]
        inline = (m.group(3) or "").strip()
        has_children = False
        if not inline:
            for nxt in lines[i + 1:]:
                if not nxt.strip() or nxt.strip().startswith("#"):
                    continue
                n = KEY.match(nxt)
                has_children = bool(n) and len(n.group(1)) > indent
                break
        entries.append((path, " ".join(pending) if pending else None, has_children))
        stack.append((indent, key))
        pending = None
    return entries


def rows(values_text):
    values = yaml.safe_load(values_text)
    out, missing, covered = [], [], []
    for path, doc, has_children in parse(values_text):
        if any(path[:len(c)] == c for c in covered):
            continue  # documented by an ancestor's `# --`
        if doc is not None:
            covered.append(path)
            default = values
            for k in path:
                default = default[k]
            out.append((".".join(path), json.dumps(default), doc))
        elif not has_children:
            missing.append(".".join(path))
    return out, missing


def table(entries):
    lines = ["| value | default | what it does |", "|---|---|---|"]
    for key, default, doc in entries:
        lines.append(f"| `{key}` | `{default}` | {doc.replace('|', '&#124;')} |")
    return "\n".join(lines)


def main():
    chart = sys.argv[1]
    write = "--write" in sys.argv[2:]
    with open(os.path.join(chart, "values.yaml")) as f:
        entries, missing = rows(f.read())
    readme_path = os.path.join(chart, "README.md")
    with open(readme_path) as f:
        readme = f.read()
    if BEGIN not in readme or END not in readme:
        print(f"FAIL values doc: {readme_path} has no {BEGIN} ... {END} section")
        return 1
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    wanted = f"{head}{BEGIN}\n{table(entries)}\n{END}{tail}"
    status = 0
    if missing:
        print("FAIL values doc: no `# --` comment documents " + ", ".join(missing))
        status = 1
    else:
        print(f"PASS values doc: every value of values.yaml is documented ({len(entries)} entries)")
    if write:
        with open(readme_path, "w") as f:
            f.write(wanted)
        print(f"wrote the values table of {readme_path}")
    elif wanted != readme:
        print("FAIL values doc: README.md's values table differs from values.yaml; run "
              "tests/chart/values_doc.py charts/syncblock --write")
        status = 1
    else:
        print("PASS values doc: README.md's values table matches values.yaml")
    return status


if __name__ == "__main__":
    sys.exit(main())
