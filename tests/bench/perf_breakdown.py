#!/usr/bin/env python3
"""Breaks a `perf script` dump (cpu-clock, DWARF call graphs) of one process down
by where the time goes: which thread's loop, which of our functions, which
system call. Used by profile.sh; standard library only.

Each sample is attributed to
  loop:     the outermost syncblock:: frame (the thread's entry: the NBD
            connection reader, an ack receiver, a replication server...)
  ours:     the innermost syncblock:: frame (who asked for the work)
  syscall:  the system call the kernel is in, or "user" when the sample is in
            user space (on loopback, a send also pays for the receiver's TCP
            processing, which runs in the sender's softirq)
"""

import collections
import re
import sys

# __x64_sys_pwrite64, ____sys_sendmsg, ksys_read: the first (innermost) one names
# the call.
SYSCALL = re.compile(r"\s(?:_+(?:x64_)?|k)sys_(\w+?)\+0x")
OURS = re.compile(r"(syncblock::[\w:~<>]+?)(?:\+0x|\(| \()")


def short(name):
    name = name.replace("syncblock::repl::", "").replace("syncblock::", "")
    return name if len(name) <= 60 else name[:57] + "..."


def samples(stream):
    frames = None
    for line in stream:
        line = line.rstrip("\n")
        if not line:
            if frames is not None:
                yield frames
            frames = None
            continue
        if frames is None:
            frames = []  # the sample's header line
            continue
        frames.append(line.strip())
    if frames is not None:
        yield frames


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    by_combo = collections.Counter()
    by_syscall = collections.Counter()
    by_loop = collections.Counter()
    total = 0
    for frames in samples(sys.stdin):
        total += 1
        syscall = "user"
        for f in frames:
            m = SYSCALL.search(f)
            if m:
                syscall = m.group(1)
                break
        ours = [m.group(1) for m in (OURS.search(f) for f in frames) if m]
        leaf = short(ours[0]) if ours else "(outside syncblock code)"
        loop = short(ours[-1]) if ours else "(outside syncblock code)"
        by_combo[(loop, leaf, syscall)] += 1
        by_syscall[syscall] += 1
        by_loop[loop] += 1
    if total == 0:
        print("no samples")
        return 1

    def pct(n):
        return f"{100.0 * n / total:5.1f}%"

    print(f"{total} samples")
    print("\nby system call (user = time in user space):")
    for k, n in by_syscall.most_common(12):
        print(f"  {pct(n)}  {k}")
    print("\nby thread loop (outermost syncblock frame):")
    for k, n in by_loop.most_common(12):
        print(f"  {pct(n)}  {k}")
    print(f"\ntop {top}: loop / our innermost function / system call:")
    for (loop, leaf, syscall), n in by_combo.most_common(top):
        print(f"  {pct(n)}  {loop}  /  {leaf}  /  {syscall}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
