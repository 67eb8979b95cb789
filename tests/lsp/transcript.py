#!/usr/bin/env python3
"""A transcript test of `treaty lsp`: drives the server over stdio as an editor does and asserts
every response. The workspace is a copy of policies/4me (documents are changed in the editor
only, as LSP sends them; the copy lets `treaty check` and `treaty fmt` see the same edits on disk
for the answers the server's are compared with).

Usage: transcript.py TREATY_BINARY SOURCE_DIR
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading

TREATY, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def uri(path):
    return "file://" + path


class Client:
    def __init__(self, root):
        self.p = subprocess.Popen([TREATY, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  cwd=root)
        self.q = queue.Queue()
        self.notes = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.q.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            body = out.read(int(headers["content-length"]))
            self.q.put(json.loads(body))

    def raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def take(self):
        m = self.q.get(timeout=60)
        if m is None:
            raise RuntimeError("the server closed its output")
        return m

    def response(self, rid):
        """The response to `rid`; notifications before it are kept in self.notes."""
        while True:
            m = self.take()
            if "method" in m:
                self.notes.append(m)
                continue
            check(m.get("id") == rid, "responses in order: wanted id %r, got %r" % (rid, m))
            return m

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.response(self.next_id)

    def diagnostics_for(self, path):
        """Waits for the next publishDiagnostics of `path` (earlier ones are discarded)."""
        for i, n in enumerate(self.notes):
            if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri(path):
                del self.notes[: i + 1]
                return n["params"]["diagnostics"]
        while True:
            m = self.take()
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri(path):
                return m["params"]["diagnostics"]


def pos_of(text, needle, nth=0, delta=0):
    """The LSP position of the nth occurrence of needle (plus delta characters); ASCII text."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += delta
    line = text.count("\n", 0, i)
    return {"line": line, "character": i - (text.rfind("\n", 0, i) + 1)}


def run_check(root):
    r = subprocess.run([TREATY, "check", "--format", "json", root], capture_output=True, text=True)
    return json.loads(r.stdout)


def main():
    tmp = tempfile.mkdtemp(prefix="treaty-lsp-")
    try:
        root = os.path.join(tmp, "4me")
        shutil.copytree(os.path.join(SRC, "policies", "4me"), root)
        cis = os.path.join(root, "lib", "cis.treaty")
        preds = os.path.join(root, "lib", "predicates.treaty")
        text = open(cis).read()
        c = Client(root)

        # Requests before initialize are refused.
        r = c.request("textDocument/hover", {"textDocument": {"uri": uri(cis)}, "position": {"line": 0, "character": 0}})
        check(r.get("error", {}).get("code") == -32002, "a request before initialize: ServerNotInitialized, got %r" % r)

        r = c.request("initialize", {"processId": None, "rootUri": uri(root), "capabilities": {}})
        caps = r["result"]["capabilities"]
        for cap in ["hoverProvider", "definitionProvider", "referencesProvider", "documentFormattingProvider",
                    "completionProvider", "codeActionProvider", "codeLensProvider", "documentSymbolProvider",
                    "workspaceSymbolProvider"]:
            check(cap in caps, "capability " + cap)
        c.notify("initialized", {})
        # The workspace is checked at once: its symbols are there before any document is opened.
        r = c.request("workspace/symbol", {"query": "registered_in"})
        check([s["name"] for s in r["result"]] == ["registered_in"], "workspace symbols before didOpen: %r" % r["result"])

        # didOpen: the package has no problems.
        c.notify("textDocument/didOpen", {"textDocument": {"uri": uri(cis), "languageId": "treaty", "version": 1,
                                                            "text": text}})
        check(c.diagnostics_for(cis) == [], "no diagnostics for the package as it is")

        # Hover on a predicate call: its doc comment and its declaration.
        r = c.request("textDocument/hover", {"textDocument": {"uri": uri(cis)}, "position": pos_of(text, "has_role(", 0, 2)})
        hv = r["result"]["contents"]["value"]
        check("predicate has_role(p: Person, r: Role, a: Account)" in hv, "hover shows the declaration: %r" % hv)
        check("holds role `r` in account `a`" in hv, "hover shows the /// doc: %r" % hv)
        # Hover on an attribute read: its type.
        r = c.request("textDocument/hover", {"textDocument": {"uri": uri(cis)},
                                             "position": pos_of(text, "c.support_team", 0, 3)})
        hv = r["result"]["contents"]["value"]
        check("attribute" in hv and "Ci.support_team" in hv and ": `Team?`" in hv, "hover on an attribute: %r" % hv)

        # Definition of the predicate: its name in predicates.treaty.
        ptext = open(preds).read()
        r = c.request("textDocument/definition", {"textDocument": {"uri": uri(cis)},
                                                  "position": pos_of(text, "has_role(", 0, 1)})
        loc = r["result"]
        want = pos_of(ptext, "predicate has_role", 0, len("predicate "))
        check(loc["uri"] == uri(preds) and loc["range"]["start"] == want, "definition of has_role: %r" % loc)

        # References: every call of has_role in the package, this file's among them.
        r = c.request("textDocument/references", {"textDocument": {"uri": uri(cis)},
                                                  "position": pos_of(text, "has_role(", 0, 1),
                                                  "context": {"includeDeclaration": True}})
        refs = r["result"]
        calls = 0
        for dirpath, _, files in os.walk(root):
            for f in files:
                calls += open(os.path.join(dirpath, f)).read().count("has_role(")
        # `predicate has_role(` is the declaration (included), every other occurrence is a call.
        check(len(refs) == calls, "references of has_role: %d, the package has %d" % (len(refs), calls))
        check({"uri": uri(preds), "range": {"start": want, "end": {"line": want["line"],
                                                                    "character": want["character"] + 8}}} in refs,
              "references include the declaration")
        cis_refs = [x for x in refs if x["uri"] == uri(cis)]
        check(len(cis_refs) == text.count("has_role("), "references in cis.treaty: %r" % cis_refs)

        # Completion after `c.` (c is a Ci): Ci's attributes, not another type's.
        r = c.request("textDocument/completion", {"textDocument": {"uri": uri(cis)},
                                                  "position": pos_of(text, "c.support_team", 0, 2)})
        labels = {i["label"] for i in r["result"]}
        check({"support_team", "owner"} <= labels, "completion after `c.`: %r" % labels)
        check("grantor" not in labels, "completion after `c.` offers only Ci's attributes: %r" % labels)
        # Completion of names: predicates and enum values are offered.
        r = c.request("textDocument/completion", {"textDocument": {"uri": uri(cis)},
                                                  "position": pos_of(text, "has_role(", 0, 3)})
        labels = {i["label"] for i in r["result"]}
        check({"has_role", "trusted", "specialist", "Person", "permit"} <= labels, "completion of names")
        details = {i["label"]: i.get("detail") for i in r["result"]}
        check(details.get("p") == "Person" and details.get("c") == "Ci",
              "completion offers the rule's variables with their types: p %r, c %r" % (details.get("p"), details.get("c")))

        # Document symbols and workspace symbols.
        r = c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri(cis)}})
        names = [s["name"] for s in r["result"]]
        check("provider_specialists_view_supported_ci" in names, "document symbols: %r" % names)
        r = c.request("workspace/symbol", {"query": "has_role"})
        check(any(s["name"] == "has_role" and s["location"]["uri"] == uri(preds) for s in r["result"]),
              "workspace symbol has_role")

        # An error typed in the editor: the same diagnostic as `treaty check` on the same text.
        broken = text.replace("when has_role(p, specialist, c.owner)", "when has_rol(p, specialist, c.owner)")
        check(broken != text, "the test's edit applies")
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(cis), "version": 2},
                                            "contentChanges": [{"text": broken}]})
        diags = c.diagnostics_for(cis)
        with open(cis, "w") as f:
            f.write(broken)
        want_diags = [d for d in run_check(root) if d["file"].endswith("cis.treaty")]
        with open(cis, "w") as f:
            f.write(text)
        check(len(diags) == len(want_diags) >= 1, "diagnostics %r, check %r" % (diags, want_diags))
        for got, w in zip(diags, want_diags):
            check(got["code"] == w["code"], "code %s == %s" % (got["code"], w["code"]))
            check(got["message"].split("\nhelp: ")[0] == w["message"], "message %r == %r" % (got["message"], w["message"]))
            check(got["range"]["start"] == {"line": w["line"] - 1, "character": w["column"] - 1},
                  "start %r at %s:%s" % (got["range"]["start"], w["line"], w["column"]))
        # Its "did you mean" fix is a quick fix.
        r = c.request("textDocument/codeAction", {"textDocument": {"uri": uri(cis)}, "range": diags[0]["range"],
                                                  "context": {"diagnostics": diags}})
        edits = [a["edit"]["changes"][uri(cis)][0] for a in r["result"]]
        check(any(e["newText"] == "has_role" for e in edits), "quick fix to has_role: %r" % r["result"])
        # Go to definition still works from the last package without errors.
        # Fixing it empties the diagnostics.
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(cis), "version": 3},
                                            "contentChanges": [{"text": text}]})
        check(c.diagnostics_for(cis) == [], "no diagnostics once fixed")

        # Formatting: the edit gives what `treaty fmt` gives.
        messy = text.replace("  principal p: Person\n  action view\n", "  principal   p:Person\n      action view\n", 1)
        check(messy != text, "the formatting edit applies")
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(cis), "version": 4},
                                            "contentChanges": [{"text": messy}]})
        r = c.request("textDocument/formatting", {"textDocument": {"uri": uri(cis)},
                                                  "options": {"tabSize": 2, "insertSpaces": True}})
        edits = r["result"]
        fmt = subprocess.run([TREATY, "fmt", "--stdout", cis], capture_output=True, text=True).stdout
        check(len(edits) == 1 and edits[0]["newText"] == fmt, "formatting gives what treaty fmt gives")
        check(edits and edits[0]["range"]["start"] == {"line": 0, "character": 0}, "formatting replaces the document")
        # A document with syntax errors is not formatted: an error response.
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(cis), "version": 5},
                                            "contentChanges": [{"text": text + "\npermit (\n"}]})
        r = c.request("textDocument/formatting", {"textDocument": {"uri": uri(cis)}, "options": {}})
        check("error" in r and "syntax errors" in r["error"]["message"], "no formatting with syntax errors: %r" % r)
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri(cis), "version": 6},
                                            "contentChanges": [{"text": text}]})

        # Code lenses on tests and properties.
        t1 = os.path.join(root, "tests", "t01_t06_tasks.treaty")
        r = c.request("textDocument/codeLens", {"textDocument": {"uri": uri(t1)}})
        lenses = r["result"]
        ntests = open(t1).read().count('\ntest "')
        check(len(lenses) == ntests and all(l["command"]["command"] == "treaty.runTest" for l in lenses),
              "one run-test lens per test: %d lenses, %d tests" % (len(lenses), ntests))
        props = os.path.join(root, "lib", "properties.treaty")
        r = c.request("textDocument/codeLens", {"textDocument": {"uri": uri(props)}})
        check(r["result"] and all(l["command"]["command"] == "treaty.verifyProperty" for l in r["result"]),
              "verify-property lenses")

        # Hostile input: a body that is not JSON, a frame without a length, an unknown method, an
        # unknown notification, bad params; each gets its error and the server goes on.
        c.raw(b"Content-Length: 5\r\n\r\n{bad}")
        m = c.take()
        check(m.get("error", {}).get("code") == -32700 and m.get("id") is None, "invalid JSON: ParseError, %r" % m)
        c.raw(b"Content-Type: x\r\n\r\n")
        m = c.take()
        check(m.get("error", {}).get("code") == -32600, "a frame without a length: InvalidRequest, %r" % m)
        deep = b'{"jsonrpc":"2.0","id":99,"method":"workspace/symbol","params":{"query":' + b"[" * 100000 + b"]" * 100000 + b"}}"
        c.raw(b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
        m = c.take()
        check(m.get("error", {}).get("code") == -32600 and "deeper" in m["error"]["message"],
              "JSON nested 100,000 deep: InvalidRequest, %r" % m)
        c.raw(b"Content-Length: 99999999999999999999999\r\n\r\n")
        m = c.take()
        check(m.get("error", {}).get("code") == -32600, "an absurd Content-Length: InvalidRequest, %r" % m)
        c.notify("$/unknownNotification", {})
        r = c.request("textDocument/unknownMethod", {})
        check(r.get("error", {}).get("code") == -32601, "an unknown method: MethodNotFound, %r" % r)
        r = c.request("textDocument/hover", {"textDocument": 5})
        check(r.get("error", {}).get("code") == -32602, "bad params: InvalidParams, %r" % r)
        # A huge document (over the parser's 8 MiB limit) gets a diagnostic, not a crash.
        huge = os.path.join(root, "huge.treaty")
        c.notify("textDocument/didOpen", {"textDocument": {"uri": uri(huge), "languageId": "treaty", "version": 1,
                                                            "text": "// x\n" * (2 * 1024 * 1024)}})
        d = c.diagnostics_for(huge)
        check(len(d) == 1 and "limit" in d[0]["message"], "a huge document: one diagnostic, %r" % d[:1])
        c.notify("textDocument/didClose", {"textDocument": {"uri": uri(huge)}})
        check(c.diagnostics_for(huge) == [], "closing it clears its diagnostics")

        r = c.request("shutdown", None)
        check("result" in r and r["result"] is None, "shutdown")
        c.notify("exit", None)
        rc = c.p.wait(timeout=30)
        check(rc == 0, "exit after shutdown: status 0, got %d" % rc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("lsp transcript: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
