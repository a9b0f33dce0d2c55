#!/usr/bin/env python3
"""One line per `cloak prove` log with the pipeline's debug events
(RUST_LOG=cloak::pipeline=debug): when the first shard reached pass 1
(L0), when pass 1 ended (pass 2's first shard received), when the last
shard was executed, the proving time and the proof hash given.

    pipeline-summary.py LOG [HASH]
"""
import re
import sys

text = open(sys.argv[1], errors="replace").read()
text = re.sub(r"\x1b\[[0-9;]*m", "", text)
events = []
for h, m, s, rest in re.findall(r"T(\d\d):(\d\d):([\d.]+)Z\s+DEBUG\s+(.*)", text):
    events.append((int(h) * 3600 + int(m) * 60 + float(s), rest))
if not events:
    sys.exit(f"{sys.argv[1]}: no pipeline events")
start = None
for t, e in events:
    m = re.match(r"claimed ms=([\d.]+)", e)
    if m:
        start = t - float(m.group(1)) / 1e3
        break
if start is None:
    start = events[0][0]


def first(pattern):
    for t, e in events:
        if re.search(pattern, e):
            return 1e3 * (t - start)
    return float("nan")


def last(pattern):
    found = [t for t, e in events if re.search(pattern, e)]
    return 1e3 * (found[-1] - start) if found else float("nan")


proving = re.search(r"proving: ([\d.]+) s", text)
print(
    f"L0 {first(r'pass 1 received shard=0 '):.0f} ms, "
    f"last executed {last(r'^executed'):.0f}, "
    f"pass 1 end {first(r'pass 2 received shard=0 '):.0f}, "
    f"proving {proving.group(1) if proving else '?'} s"
    + (f" {sys.argv[2]}" if len(sys.argv) > 2 else "")
)
