#!/usr/bin/env python3
"""Generate the input of the `json` guest and its expected public values.

    python3 guests/inputs/gen_json.py [--records N] [--out FILE]

writes FILE (default guests/inputs/json-records.json next to this script), a
deterministic JSON document (no randomness from the environment: a fixed
32-bit LCG), and prints the public values the `json` guest commits for it
(see guests/rust/json/src/main.rs):

    u32 nulls, bools, trues, integers, floats, strings, arrays, objects,
    u32 max_depth, u64 string_bytes, u64 integer_sum (wrapping),
    u64 canonical_len, [u8; 32] sha256(canonical)

`canonical` is serde_json's compact serialization with sorted keys, which for
this document (finite floats with at most 2 decimals, no duplicate keys)
equals json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).
Run the guest with: cloak execute guests/bin/json.elf --input vec@FILE
"""
import argparse
import hashlib
import json
import os
import struct


class Lcg:
    def __init__(self, seed):
        self.x = seed & 0xFFFFFFFF

    def next(self):
        self.x = (self.x * 1103515245 + 12345) & 0xFFFFFFFF
        return self.x >> 8

    def below(self, n):
        return self.next() % n


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
         "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
         "x-ray", "yankee", "zulu"]
CITIES = ["Zürich", "Málaga", "Kraków", "東京", "São Paulo", "Reykjavík", "Oslo",
          "Lyon", "Québec", "Nairobi"]
NOTES = ["ok", "refund \"partial\"", "line1\nline2", "tab\there", "back\\slash",
         "ctrl\u0001char", "emoji \U0001F600", "price: 5€", None]


def make_doc(records):
    r = Lcg(0xC10A4)
    recs = []
    for i in range(records):
        name = "%s-%s-%d" % (WORDS[r.below(26)], WORDS[r.below(26)], r.below(10000))
        rec = {
            "id": i,
            "uuid": "%08x-%04x-%04x" % (r.next(), r.below(65536), r.below(65536)),
            "name": name,
            "email": name.replace("-", ".") + "@example.org",
            "active": r.below(3) != 0,
            "score": r.below(2000001) - 1000000,
            "balance": (r.below(10000000) - 2000000) / 100.0,
            "tags": [WORDS[r.below(26)] for _ in range(r.below(6))],
            "address": {
                "street": "%d %s street" % (1 + r.below(999), WORDS[r.below(26)].capitalize()),
                "city": CITIES[r.below(len(CITIES))],
                "zip": "%05d" % r.below(100000),
                "geo": [r.below(180000000) - 90000000, r.below(360000000) - 180000000],
            },
            "history": [
                {
                    "ts": 1700000000 + r.below(100000000),
                    "amount": r.below(1 << 20) * (1 << 20) + r.below(1 << 20) - (1 << 39),
                    "note": NOTES[r.below(len(NOTES))],
                }
                for _ in range(r.below(5))
            ],
            "parent": None if r.below(4) else r.below(max(i, 1)),
        }
        recs.append(rec)
    return {
        "format": "cloak-json-bench",
        "version": 1,
        "big": [18446744073709551615, -9223372036854775808, 9007199254740993],
        "nested": [[[[[[[[{"deep": True}]]]]]]]],
        "records": recs,
    }


def summarize(doc):
    s = dict(nulls=0, bools=0, trues=0, integers=0, floats=0, strings=0, arrays=0,
             objects=0, max_depth=0, string_bytes=0, integer_sum=0)

    def walk(v, depth):
        s["max_depth"] = max(s["max_depth"], depth)
        if v is None:
            s["nulls"] += 1
        elif isinstance(v, bool):
            s["bools"] += 1
            s["trues"] += int(v)
        elif isinstance(v, int):
            s["integers"] += 1
            s["integer_sum"] = (s["integer_sum"] + v) % (1 << 64)
        elif isinstance(v, float):
            s["floats"] += 1
        elif isinstance(v, str):
            s["strings"] += 1
            s["string_bytes"] += len(v.encode())
        elif isinstance(v, list):
            s["arrays"] += 1
            for x in v:
                walk(x, depth + 1)
        elif isinstance(v, dict):
            s["objects"] += 1
            for k, x in v.items():
                s["string_bytes"] += len(k.encode())
                walk(x, depth + 1)
        else:
            raise TypeError(v)

    walk(doc, 1)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
    pv = struct.pack("<9I", s["nulls"], s["bools"], s["trues"], s["integers"], s["floats"],
                     s["strings"], s["arrays"], s["objects"], s["max_depth"])
    pv += struct.pack("<QQQ", s["string_bytes"], s["integer_sum"], len(canonical))
    pv += hashlib.sha256(canonical).digest()
    return s, len(canonical), pv


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=250)
    ap.add_argument("--out", default=os.path.join(here, "json-records.json"))
    a = ap.parse_args()
    doc = make_doc(a.records)
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    with open(a.out, "wb") as f:
        f.write(text.encode())
    s, clen, pv = summarize(doc)
    print("file: %s (%d bytes)" % (a.out, len(text.encode())))
    print("summary:", s, "canonical_len:", clen)
    print("public values:", pv.hex())


if __name__ == "__main__":
    main()
