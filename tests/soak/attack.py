#!/usr/bin/python3
"""tests/soak/attack.py — the hostile client of the `ragdb serve` soak
(tests/soak/serve_soak.sh): bad requests in a loop, each of which must get
its own 4xx with a JSON error body; slow clients (slowloris) that the server
must drop by its timeouts while a probe request keeps being answered; and
sentinels (a file outside the knowledge base, /etc/passwd) that must never
appear in any response.

Python 3 standard library only. Every request goes over a raw socket so
that paths are sent byte for byte (no client-side normalisation of "..",
percent-escapes or NUL bytes).

Usage (serve_soak.sh passes these):
  attack.py --port P --rw-key K --ro-key K --max-body N --timeout S
            --sentinel-file PATH --marker STR --duration S --slow N
            --summary OUT.json
Exit status 0 when every check held, 1 otherwise (the reasons on stderr).
"""
import argparse
import json
import os
import random
import socket
import sys
import threading
import time

ARGS = None
FAILS = []          # (case, what went wrong), first few kept in full
FAIL_COUNT = 0
STATS = {}          # case -> {status: count}
LEAKS = 0           # responses that held a sentinel
LOCK = threading.Lock()
RESPONSES_SCANNED = 0


def fail(case, msg):
    global FAIL_COUNT
    with LOCK:
        FAIL_COUNT += 1
        if len(FAILS) < 40:
            FAILS.append((case, msg))


def count(case, status):
    with LOCK:
        STATS.setdefault(case, {})
        STATS[case][status] = STATS[case].get(status, 0) + 1


# ------------------------------------------------------------------ raw HTTP

def read_response(sock, deadline, is_head=False):
    """Read one HTTP/1.1 response (Content-Length, chunked or until close).
    Returns (status, headers dict (lower-case names), body bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.05, deadline - time.time()))
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                raise ConnectionError("closed before a response")
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")

    def more():
        sock.settimeout(max(0.05, deadline - time.time()))
        c = sock.recv(65536)
        return c

    body = rest
    if is_head or status in (204, 304):
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            c = more()
            if not c:
                break
            body += c
        body = body[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        raw = body
        body = b""
        while True:
            while b"\r\n" not in raw:
                c = more()
                if not c:
                    return status, headers, body
                raw += c
            size_line, _, raw = raw.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(raw) < size + 2:
                c = more()
                if not c:
                    return status, headers, body + raw
                raw += c
            body += raw[:size]
            raw = raw[size + 2:]
            if size == 0:
                break
    else:
        while True:
            try:
                c = more()
            except socket.timeout:
                break
            if not c:
                break
            body += c
    return status, headers, body


def request(method, path, body=b"", headers=None, key=None, ctype="application/json",
            raw=None, timeout=20.0, send_body=True):
    """Send one request on a fresh connection; returns (status, headers, body).
    @raw: the exact bytes to send instead of building a request."""
    global RESPONSES_SCANNED
    if raw is None:
        if isinstance(path, str):
            path = path.encode("latin-1")
        if isinstance(body, str):
            body = body.encode("utf-8")
        h = [b"%s %s HTTP/1.1" % (method.encode(), path), b"Host: 127.0.0.1",
             b"Connection: close"]
        if key:
            h.append(b"Authorization: Bearer " + key.encode())
        if ctype and method in ("POST", "PUT", "PATCH"):
            h.append(b"Content-Type: " + ctype.encode())
        for k, v in (headers or {}).items():
            h.append(k.encode() + b": " + (v if isinstance(v, bytes) else str(v).encode("latin-1")))
        if method in ("POST", "PUT", "PATCH", "DELETE") and not any(
                k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
            h.append(b"Content-Length: %d" % len(body))
        raw = b"\r\n".join(h) + b"\r\n\r\n" + (body if send_body else b"")
    deadline = time.time() + timeout
    s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=timeout)
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered early (413) and closed; read what it sent.
            pass
        st, hd, bd = read_response(s, deadline, is_head=(method == "HEAD"))
    finally:
        s.close()
    scan(bd, path)
    with LOCK:
        RESPONSES_SCANNED += 1
    return st, hd, bd


def scan(body, where):
    """No response may carry a sentinel."""
    global LEAKS
    for m in SENTINELS:
        if m in body:
            with LOCK:
                LEAKS += 1
            fail("sentinel", "a response to %r holds the sentinel %r" % (where[:200], m))


SENTINELS = []

# ------------------------------------------------------------------ cases


def expect(case, want, st, hd, bd, json_body=True, etype=None):
    """@want: an int, or a set of acceptable statuses."""
    count(case, st)
    ok = st in want if isinstance(want, (set, tuple, list)) else st == want
    if not ok:
        fail(case, "expected %s, got %d: %r" % (want, st, bd[:300]))
        return None
    if json_body:
        try:
            j = json.loads(bd.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            fail(case, "status %d but the body is not JSON (%s): %r" % (st, e, bd[:200]))
            return None
        if st >= 400:
            if not isinstance(j, dict) or not isinstance(j.get("error"), dict) or \
                    not j["error"].get("message"):
                fail(case, "error body without error.message: %r" % bd[:200])
            elif etype and j["error"].get("type") != etype:
                fail(case, "error type %r, expected %r" % (j["error"].get("type"), etype))
        return j
    return None


def jreq(case, method, path, obj_or_bytes, want, key="RO", etype=None, **kw):
    body = obj_or_bytes if isinstance(obj_or_bytes, (bytes, str)) else json.dumps(obj_or_bytes)
    k = {"RO": ARGS.ro_key, "RW": ARGS.rw_key, None: None}.get(key, key)
    try:
        st, hd, bd = request(method, path, body, key=k, **kw)
    except (OSError, ConnectionError, ValueError) as e:
        fail(case, "no response: %s" % e)
        count(case, "noresp")
        return None
    return expect(case, want, st, hd, bd, etype=etype)


def multipart(fields):
    """fields: list of (name, filename or None, bytes) -> (content-type, body)."""
    b = "soakboundary%08x" % random.getrandbits(32)
    out = b""
    for name, fn, data in fields:
        out += b"--" + b.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if fn is not None:
            disp += '; filename="%s"' % fn
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        if fn is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + b.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + b, out


def case_list():
    """(kind, function) pairs; each function sends one bad request and checks it."""
    A = ARGS
    big = A.max_body + 4096
    sentinel = A.sentinel_file
    rel = os.path.relpath(sentinel, A.kb)
    cases = []

    def add(kind, fn):
        cases.append((kind, fn))

    # --- oversized bodies
    add("oversized", lambda: jreq("oversized-declared", "POST", "/v1/search", b"", 413,
                                  headers={"Content-Length": str(big)}, etype="request_too_large"))
    add("oversized", lambda: jreq("oversized-sent", "POST", "/v1/documents",
                                  b'{"id":"big","text":"' + b"a" * big + b'"}', 413, key="RW",
                                  etype="request_too_large"))

    def chunked_big():
        body = b'{"query":"' + b"b" * big + b'"}'
        raw = (b"POST /v1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Authorization: Bearer " + A.ro_key.encode() +
               b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 65536):
            c = body[i:i + 65536]
            raw += b"%x\r\n" % len(c) + c + b"\r\n"
        raw += b"0\r\n\r\n"
        jreq("oversized-chunked", "POST", "", b"", 413, raw=raw, etype="request_too_large")
    add("oversized", chunked_big)

    # --- malformed JSON
    for i, b in enumerate([b'{"query": "x",', b'{query: "x"}', b"{'query': 'x'}", b'{"query": "x"}}',
                           b'{"query": "x" "k": 3}', b"", b"   ", b"nul", b'{"query": "x", "k": 01}',
                           b'{"query": "unterminated}', b"\xef\xbb\xbf", b"[1,2,]"]):
        add("malformed_json", lambda b=b, i=i: jreq("malformed-json-%d" % i, "POST", "/v1/search", b, 400,
                                                    etype="invalid_request_error"))
    add("malformed_json", lambda: jreq("malformed-json-documents", "POST", "/v1/documents",
                                       b'[{"id": "a", "text": "b"},', 400, key="RW"))
    add("malformed_json", lambda: jreq("malformed-json-chat", "POST", "/v1/chat/completions",
                                       b'{"messages": [{"role": "user", "content": "hi"}', 400))

    # --- deep nesting
    add("deep_json", lambda: jreq("deep-array-10000", "POST", "/v1/search",
                                  b"[" * 10000 + b"]" * 10000, 400))
    add("deep_json", lambda: jreq("deep-object-10000", "POST", "/v1/query",
                                  b'{"a":' * 10000 + b"1" + b"}" * 10000, 400))
    add("deep_json", lambda: jreq("deep-unclosed-100000", "POST", "/v1/documents",
                                  b'{"metadata":' + b"[" * 100000, 400, key="RW"))
    add("deep_json", lambda: jreq("deep-metadata-65", "POST", "/v1/documents",
                                  b'{"id":"deep","text":"t","metadata":{"a":' + b"[" * 64 + b"]" * 64 + b"}}",
                                  400, key="RW"))

    # --- invalid UTF-8 (JSON text must be UTF-8), lone surrogates, raw NUL
    for i, bad in enumerate([b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80",
                             b"ok\x80", b"\xf4\x90\x80\x80"]):
        add("invalid_utf8", lambda bad=bad, i=i: jreq("utf8-search-%d" % i, "POST", "/v1/search",
                                                      b'{"query": "x' + bad + b'y"}', 400))
        add("invalid_utf8", lambda bad=bad, i=i: jreq("utf8-document-%d" % i, "POST", "/v1/documents",
                                                      b'{"id": "u8", "text": "t' + bad + b'"}', 400, key="RW"))
    add("invalid_utf8", lambda: jreq("utf8-id", "POST", "/v1/documents",
                                     b'{"id": "bad\xffid", "text": "t"}', 400, key="RW"))
    add("invalid_utf8", lambda: jreq("utf8-chat", "POST", "/v1/chat/completions",
                                     b'{"messages": [{"role": "user", "content": "\xc3"}]}', 400))
    add("invalid_utf8", lambda: jreq("utf8-embeddings", "POST", "/v1/embeddings",
                                     b'{"input": ["ok", "\xa0"]}', 400))
    add("invalid_utf8", lambda: jreq("lone-surrogate", "POST", "/v1/search",
                                     b'{"query": "\\ud800x"}', 400))
    add("invalid_utf8", lambda: jreq("raw-nul", "POST", "/v1/search", b'{"query": "a\x00b"}', 400))
    add("invalid_utf8", lambda: jreq("raw-control", "POST", "/v1/search", b'{"query": "a\x01b"}', 400))
    add("invalid_utf8", lambda: jreq("escaped-nul-id", "POST", "/v1/documents",
                                     b'{"id": "\\u0000", "text": "t"}', 400, key="RW"))

    # --- wrong types and values
    wrong = [
        ("/v1/search", {"query": 5}), ("/v1/search", {"query": ["x"]}), ("/v1/search", {"query": ""}),
        ("/v1/search", {"k": 3}), ("/v1/search", {"query": "x", "k": "10"}),
        ("/v1/search", {"query": "x", "k": True}), ("/v1/search", {"query": "x", "mode": "magic"}),
        ("/v1/search", {"query": "x", "mode": 1}), ("/v1/search", {"query": "x", "filter": 5}),
        ("/v1/search", {"query": "x", "filter": [1]}), ("/v1/search", {"query": "x", "filter": ["a"] * 40}),
        ("/v1/search", {"query": "x", "filter": "year ~~ 3"}), ("/v1/search", {"query": "x", "mmr": 2}),
        ("/v1/search", {"query": "x", "mmr": "a"}), ("/v1/search", [{"query": "x"}]),
        ("/v1/search", "query"), ("/v1/search", None), ("/v1/search", 42),
        ("/v1/query", {"question": 1}), ("/v1/query", {"question": "x", "stream": "yes"}),
        ("/v1/query", {"question": "x", "max_sentences": 0}), ("/v1/query", {"question": "x", "context_tokens": -5}),
        ("/v1/query", {"question": "x", "conversation_id": 7}), ("/v1/query", {}),
        ("/v1/embeddings", {"input": 5}), ("/v1/embeddings", {"input": []}), ("/v1/embeddings", {"input": [1, 2]}),
        ("/v1/embeddings", {"input": "x", "dimensions": 7}), ("/v1/embeddings", {"input": "x", "encoding_format": "hex"}),
        ("/v1/embeddings", {"input": [""]}), ("/v1/embeddings", {"input": ["x"] * 5000}),
        ("/v1/chat/completions", {"messages": "hi"}), ("/v1/chat/completions", {"messages": []}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "content": "x"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "temperature": 9}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": 1}),
    ]
    for i, (path, obj) in enumerate(wrong):
        add("wrong_type", lambda path=path, obj=obj, i=i: jreq("wrong-type-%d%s" % (i, path), "POST", path,
                                                              json.dumps(obj), 400))
    docs_wrong = [{"id": "a", "text": 1}, {"id": 5, "text": "x"}, {"id": "a"}, {"id": "a", "text": ""},
                  {"id": "a", "text": "x", "metadata": [1]}, {"id": "a", "text": "x", "format": "exe"},
                  {"id": "", "text": "x"}, {"id": "a\tb", "text": "x"}, {"id": "x" * 2000, "text": "x"},
                  {"documents": "nope"}, {"documents": []}, [], [1], {"documents": [{"id": "ok", "text": "t"}, {"id": 3}]}]
    for i, obj in enumerate(docs_wrong):
        add("wrong_type", lambda obj=obj, i=i: jreq("wrong-type-doc-%d" % i, "POST", "/v1/documents",
                                                   json.dumps(obj), 400, key="RW"))

    # --- huge or out-of-range k
    for i, k in enumerate([b"1000000000", b"1e300", b"1e400", b"-1", b"0", b"1.5", b"4294967297", b"-0.0",
                           b"99999999999999999999999999999"]):
        add("huge_k", lambda k=k, i=i: jreq("k-%d" % i, "POST", "/v1/search", b'{"query": "backup", "k": ' + k + b"}",
                                            400))
        add("huge_k", lambda k=k, i=i: jreq("k-query-%d" % i, "POST", "/v1/query",
                                            b'{"question": "backup?", "k": ' + k + b"}", 400))
    for i, q in enumerate(["limit=0", "limit=100000", "limit=abc", "limit=", "limit=-1", "limit=1e3",
                           "limit=%ff", "limit=99999999999999999999"]):
        add("huge_k", lambda q=q, i=i: jreq("list-%d" % i, "GET", "/v1/documents?" + q, b"", 400))

    # --- unknown routes and fields
    for i, (m, p) in enumerate([("GET", "/v1/nothing"), ("POST", "/v2/search"), ("GET", "/v1/search/x"),
                                ("GET", "/v1"), ("GET", "/v1/"), ("GET", "/admin"), ("GET", "/.env"),
                                ("GET", "/index.html/.."), ("GET", "/v1/documentsX"), ("POST", "/v1/query/"),
                                ("GET", "/" + "a" * 4000)]):
        add("unknown_route", lambda m=m, p=p, i=i: jreq("unknown-route-%d" % i, m, p, b"{}", 404,
                                                        etype="not_found"))
    for i, (p, obj, key) in enumerate([
            ("/v1/search", {"query": "x", "topk": 5}, "RO"), ("/v1/search", {"query": "x", "filtr": "a"}, "RO"),
            ("/v1/query", {"question": "x", "kk": 2}, "RO"),
            ("/v1/documents", {"id": "u", "text": "x", "metdata": {}}, "RW")]):
        add("unknown_field", lambda p=p, obj=obj, key=key, i=i: jreq("unknown-field-%d" % i, "POST", p,
                                                                     json.dumps(obj), 400, key=key))

    # --- path tricks in ids: never a file, never the sentinel
    tricks = ["../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "....//....//etc/passwd", "/etc/passwd",
              "%2fetc%2fpasswd", "..\\..\\etc\\passwd", "%252e%252e%252fetc%252fpasswd",
              rel, rel.replace("/", "%2f"), sentinel, sentinel.replace("/", "%2F"),
              "..%00/etc/passwd", "a%00b", "%00", "file:%2f%2f%2fetc%2fpasswd", "~root%2f.bashrc",
              "%c0%ae%c0%ae%2fetc%2fpasswd", "..;/etc/passwd", "." , "..", "%2e", "%2e%2e",
              "x" * 3000, "%01", "%ff%fe"]
    for i, t in enumerate(tricks):
        # 404 (no such document) or 400 (not a valid id) — never 200, never 5xx.
        add("path_trick", lambda t=t, i=i: jreq("path-get-%d" % i, "GET", "/v1/documents/" + t, b"", {400, 404}))
        add("path_trick", lambda t=t, i=i: jreq("path-delete-%d" % i, "DELETE", "/v1/documents/" + t, b"",
                                                {400, 404}, key="RW"))
    for i, t in enumerate(["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.." + sentinel,
                           "/%2e%2e" + sentinel.replace("/", "%2f"), "//etc/passwd", "/app.js/../../../etc/passwd",
                           "/v1/documents/../../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd"]):
        add("path_trick", lambda t=t, i=i: jreq("path-page-%d" % i, "GET", t, b"", {400, 404}))
    # Documents whose source names the sentinel: stored as a name, the file is not read.
    add("path_trick", lambda: source_trick())

    # --- API keys
    add("auth", lambda: jreq("auth-missing", "POST", "/v1/search", {"query": "x"}, 401, key=None,
                             etype="authentication_error"))
    add("auth", lambda: jreq("auth-wrong", "POST", "/v1/search", {"query": "x"}, 401, key="not-the-key-123",
                             etype="authentication_error"))
    add("auth", lambda: jreq("auth-prefix", "POST", "/v1/search", {"query": "x"}, 401, key=A.rw_key[:-1]))
    add("auth", lambda: jreq("auth-longer", "POST", "/v1/search", {"query": "x"}, 401, key=A.rw_key + "x"))
    add("auth", lambda: jreq("auth-empty", "POST", "/v1/search", {"query": "x"}, 401, key=None,
                             headers={"Authorization": "Bearer "}))
    add("auth", lambda: jreq("auth-basic", "POST", "/v1/search", {"query": "x"}, 401, key=None,
                             headers={"Authorization": "Basic " + A.rw_key}))
    add("auth", lambda: jreq("auth-metrics", "GET", "/metrics", b"", 401, key=None))
    add("auth", lambda: jreq("auth-get-doc", "GET", "/v1/documents/faq.md", b"", 401, key=None))
    add("auth", lambda: jreq("auth-key-nul", "POST", "/v1/search", {"query": "x"}, {400, 401}, key=None,
                             headers={"Authorization": b"Bearer not-the-key\x00" + A.rw_key.encode()}))
    add("forbidden", lambda: jreq("ro-key-write", "POST", "/v1/documents", {"id": "ro", "text": "x"}, 403,
                                  key="RO", etype="permission_denied"))
    add("forbidden", lambda: jreq("ro-key-delete", "DELETE", "/v1/documents/faq.md", b"", 403, key="RO",
                                  etype="permission_denied"))
    add("forbidden", lambda: jreq("ro-key-upload", "POST", "/v1/documents", multipart(
        [("file", "a.txt", b"hello")])[1], 403, key="RO", ctype=multipart([("file", "a.txt", b"x")])[0]))

    # --- wrong methods
    for i, (m, p) in enumerate([("GET", "/v1/search"), ("PUT", "/v1/documents"), ("DELETE", "/v1/search"),
                                ("PATCH", "/v1/documents/faq.md"), ("POST", "/health"), ("HEAD", "/v1/query"),
                                ("DELETE", "/v1/documents"), ("POST", "/v1/documents/faq.md"),
                                ("GET", "/v1/chat/completions"), ("FOO", "/v1/search"), ("TRACE", "/")]):
        if m == "HEAD":
            add("method", head405)
        else:
            add("method", lambda m=m, p=p, i=i: jreq("method-%d-%s" % (i, m), m, p, b"", 405,
                                                     etype="method_not_allowed"))

    # --- Content-Type
    for i, ct in enumerate(["text/plain", "application/xml", "application/x-www-form-urlencoded",
                            "multipart/form-data; boundary=x", "application/jsonx", "image/png"]):
        add("content_type", lambda ct=ct, i=i: jreq("ctype-%d" % i, "POST", "/v1/search", {"query": "x"}, 415,
                                                    ctype=ct, etype="unsupported_media_type"))
    add("content_type", lambda: jreq("ctype-docs", "POST", "/v1/documents", {"id": "a", "text": "b"}, 415,
                                     key="RW", ctype="text/csv"))

    # --- multipart
    def upload(case, fields, want, check_id=None):
        ct, body = multipart(fields)
        j = jreq(case, "POST", "/v1/documents", body, want, key="RW", ctype=ct)
        if j and check_id is not None:
            got = [d.get("id") for d in j.get("documents", [])]
            if got != [check_id]:
                fail(case, "stored as %r, expected the id %r" % (got, check_id))
            jreq(case + "-cleanup", "DELETE", "/v1/documents/" + check_id.replace("/", "%2f"), b"", 200, key="RW")
    # Names unique per call: two workers may run the same case at once.
    uniq = lambda: "%08x" % random.getrandbits(32)
    add("multipart", lambda u=None: (lambda u: upload("upload-dotdot", [("file", "../../soak-upload-x-" + u,
                                                                          b"upload text one " + u.encode())],
                                                       {200, 201}, "soak-upload-x-" + u))(uniq()))
    add("multipart", lambda: (lambda u: upload("upload-absolute", [("file", A.upload_abs + "-" + u,
                                                                    b"upload text two " + u.encode())],
                                               {200, 201}, os.path.basename(A.upload_abs) + "-" + u))(uniq()))
    add("multipart", lambda: (lambda u: upload("upload-backslash", [("file", "..\\..\\soak-upload-y-" + u,
                                                                     b"upload text three " + u.encode())],
                                               {200, 201}, "soak-upload-y-" + u))(uniq()))
    add("multipart", lambda: upload("upload-empty-name", [("file", "", b"x")], 400))
    add("multipart", lambda: upload("upload-binary", [("file", "a.bin", b"\x00\x01\x02" * 50)], 415))
    add("multipart", lambda: upload("upload-empty", [("file", "a.txt", b"")], 400))
    add("multipart", lambda: upload("upload-no-file", [("title", None, b"t")], 400))
    add("multipart", lambda: upload("upload-too-many", [("f%d" % i, None, b"x") for i in range(80)], 400))
    add("multipart", lambda: jreq("upload-no-boundary", "POST", "/v1/documents", b"--x\r\n", 400, key="RW",
                                  ctype="multipart/form-data"))
    add("multipart", lambda: jreq("upload-garbage", "POST", "/v1/documents", b"garbage" * 100, 400, key="RW",
                                  ctype="multipart/form-data; boundary=zzz"))
    add("multipart", lambda: jreq("upload-oversized", "POST", "/v1/documents",
                                  multipart([("file", "big.txt", b"z" * big)])[1], 413, key="RW",
                                  ctype=multipart([("file", "big.txt", b"")])[0]))

    # --- HTTP-level junk (libmicrohttpd answers these itself: any 4xx)
    add("http_junk", lambda: raw4xx("bad-content-length", b"POST /v1/search HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: abc\r\n\r\n"))
    add("http_junk", lambda: raw4xx("nul-in-path", b"GET /v1/documents/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"))
    add("http_junk", lambda: raw4xx("huge-header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100000
                                    + b"\r\n\r\n"))
    # No Host in HTTP/1.1: libmicrohttpd (not strict) answers it; any non-5xx will do.
    add("http_junk", lambda: raw4xx("no-host", b"GET /health HTTP/1.1\r\n\r\n", allow_ok=True))
    add("http_junk", lambda: raw4xx("huge-url", b"GET /v1/documents/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    add("http_junk", lambda: raw4xx("cl-and-te", b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\nzzzz\r\n0\r\n\r\n", allow_ok=False))
    add("http_junk", lambda: raw4xx("bad-chunk", b"POST /v1/search HTTP/1.1\r\nHost: x\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"))
    # --- clients that go away at the worst moments (the server must free
    # what the request held; ASan sees it): mid-body, before the answer,
    # during a stream; and two requests pipelined on one connection.
    add("abort", lambda: abort_case("abort-mid-body", b"POST /v1/documents HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: Bearer " + A.rw_key.encode() + b"\r\nContent-Type: "
                                    b"application/json\r\nContent-Length: 5000\r\n\r\n{\"id\": \"ab", 0))
    add("abort", lambda: abort_case("abort-before-answer", request_bytes(
        "POST", "/v1/query", json.dumps({"question": "How do I restore from backup?", "k": 8}), A.ro_key), 0))
    add("abort", lambda: abort_case("abort-mid-stream", request_bytes(
        "POST", "/v1/query", json.dumps({"question": "How do I rotate the signing keys?", "stream": True}),
        A.ro_key), 64))
    add("abort", lambda: abort_case("abort-mid-chat-stream", request_bytes(
        "POST", "/v1/chat/completions", json.dumps({"stream": True, "messages": [
            {"role": "user", "content": "What is the backup retention?"}]}), A.ro_key), 64))
    add("abort", lambda: abort_case("abort-mid-upload", b"POST /v1/documents HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: Bearer " + A.rw_key.encode() + b"\r\nContent-Type: "
                                    b"multipart/form-data; boundary=zz\r\nContent-Length: 9000\r\n\r\n"
                                    b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\""
                                    b"\r\n\r\nhalf a file", 0))
    add("pipelined", pipelined_case)
    add("cors", lambda: jreq("cors-foreign-origin", "OPTIONS", "/v1/search", b"", 403,
                             headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
                             etype="cors_error"))
    return cases


def request_bytes(method, path, body, key, keep_alive=False):
    body = body.encode() if isinstance(body, str) else body
    return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
            (method.encode(), path.encode(), b"" if keep_alive else b"Connection: close\r\n",
             key.encode(), len(body))) + body


def abort_case(case, raw, read_bytes):
    """Send @raw, read @read_bytes of the answer (0: none), then reset the
    connection. Nothing to check on this connection; the probe is the next
    request: the server must answer it."""
    try:
        s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=10)
        s.sendall(raw)
        got = b""
        while len(got) < read_bytes:
            c = s.recv(read_bytes - len(got))
            if not c:
                break
            got += c
        # RST rather than FIN: the harshest way to go.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        count(case, "aborted")
    except OSError as e:
        fail(case, "could not send: %s" % e)
    jreq(case + "-after", "GET", "/health", b"", 200)


def pipelined_case():
    """Two requests in one write on a keep-alive connection: two answers, in order."""
    case = "pipelined"
    raw = (request_bytes("POST", "/v1/search", json.dumps({"query": "backup", "k": 1}), ARGS.ro_key, True) +
           request_bytes("POST", "/v1/search", b'{"query": 5}', ARGS.ro_key, False))
    try:
        s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=20)
        s.sendall(raw)
        # The second request closes the connection: read to the end, then
        # split the two answers (both have a Content-Length).
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
        answers = []
        while data and len(answers) < 2:
            head, _, rest = data.partition(b"\r\n\r\n")
            n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
            answers.append(int(head.split(b" ")[1]))
            data = rest[n:]
        if len(answers) != 2:
            raise ValueError("%d answers" % len(answers))
        st1, st2 = answers
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        fail(case, "no answers: %s" % e)
        return
    count(case, st1)
    count(case, st2)
    if st1 != 200 or st2 != 400:
        fail(case, "pipelined answers %d, %d (expected 200, 400)" % (st1, st2))


def head405():
    try:
        st, hd, bd = request("HEAD", "/v1/query", b"", key=ARGS.ro_key, timeout=5)
    except (OSError, ConnectionError, ValueError) as e:
        # A HEAD response has no body; our reader may wait for one.
        fail("method-head", "no response: %s" % e)
        return
    expect("method-head", 405, st, hd, b"", json_body=False)


def raw4xx(case, raw, allow_ok=False):
    try:
        st, hd, bd = request("", "", raw=raw, timeout=10)
    except (OSError, ConnectionError, ValueError) as e:
        # Closing the connection on garbage is also a fine answer.
        count(case, "closed")
        return
    count(case, st)
    if allow_ok and 200 <= st < 300:
        return
    if not (400 <= st < 500):
        fail(case, "expected a 4xx or a closed connection, got %d: %r" % (st, bd[:200]))


def source_trick():
    case = "path-source"
    j = jreq(case, "POST", "/v1/documents", {"id": "soak-source-trick", "source": ARGS.sentinel_file,
                                              "text": "a document that only names a file"}, {200, 201}, key="RW")
    if j is None:
        return
    j = jreq(case + "-get", "GET", "/v1/documents/soak-source-trick", b"", 200)
    if j is not None and "only names a file" not in j.get("text", ""):
        fail(case, "the stored text is not the text sent: %r" % j.get("text", "")[:200])


# ------------------------------------------------------------------ slow clients

def probe_once():
    t0 = time.time()
    st, _, _ = request("POST", "/v1/search", json.dumps({"query": "restore from backup", "k": 3}),
                       key=ARGS.ro_key, timeout=30)
    dt = time.time() - t0
    if st != 200:
        fail("probe", "probe search answered %d" % st)
    return dt


def slow_clients(n):
    """Hold @n connections in four slowloris styles; meanwhile probe. Returns
    a dict of what happened."""
    A = ARGS
    kinds = ["trickle_headers", "stall_headers", "stall_body", "trickle_body"]
    conns = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        try:
            s = socket.create_connection(("127.0.0.1", A.port), timeout=5)
        except OSError as e:
            fail("slowloris", "could not open slow connection %d: %s" % (i, e))
            continue
        s.setblocking(False)
        conns.append({"sock": s, "kind": kind, "opened": time.time(), "closed_at": None, "sent": 0})
    head = (b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + A.ro_key.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n")
    for c in conns:
        s = c["sock"]
        try:
            if c["kind"] == "stall_headers":
                s.send(head[:30])
            elif c["kind"] == "stall_body":
                s.send(head + b"\r\n" + b'{"query": "')
            elif c["kind"] == "trickle_body":
                s.send(head + b"\r\n")
            c["pos"] = 0
        except OSError:
            c["closed_at"] = time.time()
    limit = A.timeout * 3 + 5
    t_start = time.time()
    probes = []
    last_tick = 0
    while time.time() - t_start < limit:
        now = time.time()
        if now - last_tick >= 1.0:
            last_tick = now
            for c in conns:
                if c["closed_at"]:
                    continue
                s = c["sock"]
                try:
                    # A byte a second: never idle for the idle timeout.
                    if c["kind"] == "trickle_headers":
                        s.send(b"X" if c["sent"] else b"X-Slow: X")
                    elif c["kind"] == "trickle_body":
                        s.send(b" ")
                    c["sent"] += 1
                except OSError:
                    c["closed_at"] = now
                    continue
                try:
                    data = s.recv(4096)
                    if data == b"":
                        c["closed_at"] = now
                    else:
                        # An answer (408/413...) then close is fine too.
                        c["answer"] = data[:12]
                except BlockingIOError:
                    pass
                except OSError:
                    c["closed_at"] = now
        try:
            probes.append(probe_once())
        except (OSError, ConnectionError, ValueError) as e:
            fail("probe", "probe search failed during the slow-client phase: %s" % e)
        if all(c["closed_at"] for c in conns):
            break
        time.sleep(0.2)
    open_left = [c for c in conns if not c["closed_at"]]
    lifetimes = sorted(c["closed_at"] - c["opened"] for c in conns if c["closed_at"])
    for c in open_left:
        c["sock"].close()
    by_kind = {}
    for c in conns:
        k = by_kind.setdefault(c["kind"], {"opened": 0, "dropped": 0, "max_life_s": 0.0})
        k["opened"] += 1
        if c["closed_at"]:
            k["dropped"] += 1
            k["max_life_s"] = round(max(k["max_life_s"], c["closed_at"] - c["opened"]), 1)
        c["sock"].close()
    if open_left:
        fail("slowloris", "%d of %d slow connections still open after %.0f s (request_timeout %g s): %s" % (
            len(open_left), len(conns), limit, A.timeout, sorted(set(c["kind"] for c in open_left))))
    return {"connections": len(conns), "by_kind": by_kind, "probes": len(probes),
            "probe_max_ms": round(max(probes) * 1e3, 1) if probes else None,
            "probe_median_ms": round(sorted(probes)[len(probes) // 2] * 1e3, 1) if probes else None,
            "max_lifetime_s": round(lifetimes[-1], 1) if lifetimes else None}


# ------------------------------------------------------------------ main

def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rw-key", required=True)
    ap.add_argument("--ro-key", required=True)
    ap.add_argument("--max-body", type=int, required=True)
    ap.add_argument("--timeout", type=float, required=True, help="the server's request_timeout")
    ap.add_argument("--kb", required=True)
    ap.add_argument("--sentinel-file", required=True)
    ap.add_argument("--marker", required=True)
    ap.add_argument("--upload-abs", required=True, help="an absolute filename to upload as (must not be created)")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--slow", type=int, default=200, help="slow connections (0: no slow-client phase)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--once", action="store_true", help="each case once, no slow clients")
    ARGS = ap.parse_args()
    SENTINELS.extend([ARGS.marker.encode(), b"root:x:0:0"])
    cases = case_list()
    sent_by_kind = {}
    stop = [False]

    def run_case(kind, fn):
        try:
            fn()
        except Exception as e:  # a checker bug must not look like a pass
            fail(kind, "checker raised %r" % e)
        with LOCK:
            sent_by_kind[kind] = sent_by_kind.get(kind, 0) + 1

    def loop(seed):
        rnd = random.Random(seed)
        order = list(cases)
        while not stop[0]:
            rnd.shuffle(order)
            for kind, fn in order:
                if stop[0]:
                    break
                run_case(kind, fn)
            if ARGS.once:
                break

    t0 = time.time()
    slow = None
    if ARGS.once:
        loop(1)
    else:
        threads = [threading.Thread(target=loop, args=(i,)) for i in range(ARGS.workers)]
        for t in threads:
            t.start()
        # The slow-client phase in the middle of the run, with the bad requests going on.
        if ARGS.slow > 0:
            time.sleep(min(2.0, ARGS.duration / 4))
            slow = slow_clients(ARGS.slow)
        rest = ARGS.duration - (time.time() - t0)
        if rest > 0:
            time.sleep(rest)
        stop[0] = True
        for t in threads:
            t.join()
    statuses = {}
    for case, st in STATS.items():
        for s, n in st.items():
            statuses[str(s)] = statuses.get(str(s), 0) + n
    summary = {"seconds": round(time.time() - t0, 1), "bad_requests": sum(sent_by_kind.values()),
               "by_kind": sent_by_kind, "statuses": statuses, "failures": FAIL_COUNT,
               "responses_scanned": RESPONSES_SCANNED, "sentinel_leaks": LEAKS, "slow_clients": slow,
               "cases": len(cases)}
    with open(ARGS.summary, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    for case, msg in FAILS:
        print("attack: FAIL %s: %s" % (case, msg), file=sys.stderr)
    if FAIL_COUNT > len(FAILS):
        print("attack: ... and %d more failures" % (FAIL_COUNT - len(FAILS)), file=sys.stderr)
    return 1 if FAIL_COUNT else 0


if __name__ == "__main__":
    sys.exit(main())
