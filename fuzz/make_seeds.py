#!/usr/bin/env python3
"""Writes the seed inputs of the harnesses that take requests, messages or logs into
fuzz/corpus/HARNESS/seed-*: from the AuthZEN specification, certification and interop scenarios
(../shared/authzen/*.md), the examples (policies/examples/authzen_*), the 4me library's tests
(policies/4me/tests: every `expect allow|deny` as a native request), the facts corpus, and
`treaty lsp` sessions over the examples. Run from the checkout: python3 fuzz/make_seeds.py
(the campaign's minimized corpora sit next to the seeds; seeds are rewritten, nothing else).
"""
import glob
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def blocks(md):
    """(endpoint last named before the block, JSON value) for each code block that is JSON."""
    endpoint, out, cur = "evaluation", [], None
    for line in open(md, encoding="utf-8"):
        m = re.findall(r"/access/v1/(evaluations|evaluation|search/subject|search/resource|search/action)", line)
        if m:
            endpoint = m[-1]
        if cur is not None:
            if re.match(r"^\s*(```|~~~)\s*$", line):
                text = re.sub(r"^\s*//.*$", "", "".join(cur), flags=re.M)
                try:
                    out.append((endpoint, json.loads(text)))
                except ValueError:
                    pass
                cur = None
            else:
                cur.append(line)
            continue
        if re.match(r"^\s*(```|~~~)", line):
            cur = []
            continue
    return out


def authzen():
    n = {"evaluation": 0, "evaluations": 0, "search/subject": 0, "search/resource": 0, "search/action": 0}
    for md in sorted(glob.glob(os.path.join(SHARED, "authzen", "*.md"))):
        for endpoint, j in blocks(md):
            if not isinstance(j, dict) or not ("subject" in j or "evaluations" in j or "resource" in j):
                continue
            if "evaluations" in j:
                endpoint = "evaluations"
            body = json.dumps(j)
            if endpoint in ("evaluation", "evaluations"):
                sel = 1 if endpoint == "evaluations" else 0
                # Both policies: the certification scenario's (0) and the Todo scenario's (2).
                for pol in (0, 2):
                    write("fuzz_authzen", "%s-%d-%d" % (endpoint, n[endpoint], pol), bytes([sel | pol]) + body.encode())
            else:
                # The searched side is the one without an id (the text around may name all three).
                kind = 2
                if isinstance(j.get("subject"), dict) and "id" not in j["subject"]:
                    kind, endpoint = 0, "search/subject"
                elif isinstance(j.get("resource"), dict) and "id" not in j["resource"]:
                    kind, endpoint = 1, "search/resource"
                for pol in (0, 4):  # the search scenario's policy, the certification scenario's
                    write("fuzz_search", "%s-%d-%d" % (endpoint.replace("/", "-"), n[endpoint], pol),
                          bytes([kind | pol]) + body.encode())
            n[endpoint] += 1
    return n


def native():
    pat = re.compile(r'expect (allow|deny) principal (\w+)::"([^"]*)" action (\w+)(?:\(([^)]*)\))? resource (\w+)::"([^"]*)"')
    reqs = []
    for f in sorted(glob.glob(os.path.join(ROOT, "policies", "4me", "tests", "*.treaty"))):
        for m in pat.finditer(open(f, encoding="utf-8").read()):
            _, pt, pid, action, args, rt, rid = m.groups()
            a = {"name": action}
            if args:
                vals = {}
                for part in args.split(","):
                    k, _, v = part.partition(":")
                    v = v.strip()
                    em = re.match(r'(\w+)::"([^"]*)"', v)
                    vals[k.strip()] = em.group(2) if em else v
                a["args"] = vals
            reqs.append({"principal": {"type": pt, "id": pid}, "action": a, "resource": {"type": rt, "id": rid}})
    for f in sorted(glob.glob(os.path.join(OUT, "fuzz_request", "*.json"))):
        reqs.append(json.load(open(f)))
    for i, r in enumerate(reqs[:40]):
        write("fuzz_native", "decide-%d" % i, b"\x00" + json.dumps(r).encode())
    for i in range(0, min(len(reqs), 40), 8):
        lines = "\n".join(json.dumps(r) for r in reqs[i:i + 8]) + "\n"
        write("fuzz_native", "batch-%d" % i, b"\x01" + lines.encode())
    masks = [r for r in reqs if r["action"]["name"] in ("assign_task", "view_ci_field", "assign_role")]
    for i, r in enumerate(masks[:8]):
        m = dict(r)
        m["mask"] = {"assign_task": "kind", "view_ci_field": "field", "assign_role": "role"}[r["action"]["name"]]
        write("fuzz_native", "mask-%d" % i, b"\x02" + json.dumps(m).encode())
    write("fuzz_native", "graph", b"\x00" + json.dumps(dict(reqs[0], explain="graph", format="mermaid")).encode())
    return len(reqs)


def facts_write():
    ents = []
    for f in sorted(glob.glob(os.path.join(OUT, "fuzz_facts", "*.json"))):
        try:
            ents += json.load(open(f))["entities"]
        except ValueError:
            pass
    batches = [
        {"upsert": ents},
        {"upsert": ents[:1], "delete": []},
        {"delete": [{"type": e["type"], "id": e["id"]} for e in ents[:1]]},
        {"upsert": [{"type": "Trust", "id": "t2", "attrs": {"grantor": "t_other", "grantee": "t_msp", "accepted": True,
                                                            "options": [], "shared_roles": []}}]},
        {"delete": [{"type": "Person", "id": "t_cm2"}]},
        {"upsert": [{"type": "Person", "id": "zed", "attrs": {"account": "nowhere", "roles": [], "teams": []}}]},
    ]
    for i, b in enumerate(batches):
        write("fuzz_facts_write", "batch-%d" % i, json.dumps(b))
    write("fuzz_facts_write", "sequence", "\n".join(json.dumps(b) for b in batches) + "\n")


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def wal():
    header = b"TREATYW\0" + struct.pack("<II", 1, 0)

    def record(rev, payload):
        h = struct.pack("<IQ", len(payload), rev)
        return h + struct.pack("<I", crc32c(h + payload)) + payload

    recs = [record(r, json.dumps({"upsert": [{"type": "Person", "id": "p%d" % r}]}).encode()) for r in (1, 2, 3, 7)]
    write("fuzz_wal", "empty", b"\x00")
    write("fuzz_wal", "header", b"\x00" + header)
    write("fuzz_wal", "records", b"\x00" + header + b"".join(recs))
    write("fuzz_wal", "torn", b"\x00" + header + b"".join(recs)[:-5])
    write("fuzz_wal", "resealed", b"\x01" + header + b"".join(recs))
    write("fuzz_wal", "out-of-order", b"\x01" + header + recs[1] + recs[0])
    write("fuzz_wal", "short-header", b"\x00" + header[:9])


def lsp():
    def msg(**kw):
        return json.dumps(dict(jsonrpc="2.0", **kw))

    init = msg(id=0, method="initialize", params={"rootUri": "file:///fuzz", "capabilities": {}})
    n = 0
    files = sorted(glob.glob(os.path.join(ROOT, "policies", "examples", "*", "*.treaty")))
    files += sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "check", "fail_*.treaty")))[:6]
    for f in files:
        text = open(f, encoding="utf-8").read()
        if len(text) > 9000:
            continue
        uri = "file:///fuzz/a.treaty"
        pos = {"line": 2, "character": 8}
        td = {"uri": uri}
        seq = [init, msg(method="initialized", params={}),
               msg(method="textDocument/didOpen", params={"textDocument": {"uri": uri, "version": 1, "text": text}}),
               msg(id=1, method="textDocument/hover", params={"textDocument": td, "position": pos}),
               msg(id=2, method="textDocument/completion", params={"textDocument": td, "position": pos}),
               msg(id=3, method="textDocument/definition", params={"textDocument": td, "position": pos}),
               msg(id=4, method="textDocument/references", params={"textDocument": td, "position": pos}),
               msg(id=5, method="textDocument/documentSymbol", params={"textDocument": td}),
               msg(id=6, method="textDocument/formatting", params={"textDocument": td, "options": {}}),
               msg(id=7, method="textDocument/codeLens", params={"textDocument": td}),
               msg(id=8, method="shutdown"), msg(method="exit")]
        write("fuzz_lsp", "session-%d" % n, "\x1e".join(seq))
        n += 1
    edit = [init, msg(method="initialized", params={}),
            msg(method="textDocument/didOpen", params={"textDocument": {"uri": "file:///fuzz/b.treaty", "version": 1,
                                                                       "text": "entity A {}\n"}}),
            msg(method="textDocument/didChange", params={"textDocument": {"uri": "file:///fuzz/b.treaty", "version": 2},
                                                        "contentChanges": [{"range": {"start": {"line": 0, "character": 9},
                                                                                      "end": {"line": 0, "character": 11}},
                                                                            "text": "{ x: Int }"}]}),
            msg(id=1, method="workspace/symbol", params={"query": "A"}),
            msg(id=2, method="textDocument/codeAction", params={"textDocument": {"uri": "file:///fuzz/b.treaty"},
                                                               "range": {"start": {"line": 0, "character": 0},
                                                                         "end": {"line": 0, "character": 1}},
                                                               "context": {"diagnostics": []}}),
            msg(method="textDocument/didClose", params={"textDocument": {"uri": "file:///fuzz/b.treaty"}})]
    write("fuzz_lsp", "edit", "\x1e".join(edit))
    write("fuzz_lsp", "raw", "\x1e".join([init, "!Content-Length: 5\r\n\r\n{\"a\":"]))


def differential():
    import random
    rnd = random.Random(28)
    for i in range(16):
        write("fuzz_differential", "random-%d" % i, bytes(rnd.randrange(256) for _ in range(rnd.randrange(16, 400))))


if __name__ == "__main__":
    print("authzen and search seeds:", authzen())
    print("native requests:", native())
    facts_write()
    wal()
    lsp()
    differential()
