#!/usr/bin/env python3
"""tests/fake/fake_provider.py - a fake model provider for ragdb's tests.

One HTTP server on 127.0.0.1 (ephemeral port, written to --port-file) that
speaks, on the paths the real services use:

  OpenAI      POST /v1/embeddings, POST /v1/chat/completions (SSE, data: [DONE])
  Anthropic   POST /v1/messages (SSE: message_start, content_block_*, ping,
              message_delta with usage, message_stop; error events)
  Ollama      POST /api/embed, POST /api/chat (NDJSON stream)
  TEI         POST /embed
  Gemini      POST /v1beta/models/M:batchEmbedContents,
              POST /v1beta/models/M:streamGenerateContent?alt=sse, :generateContent

as their public specifications describe (shared/specs: OpenAI and Ollama
OpenAPI files, TEI openapi.json, the curated Anthropic description; Gemini's
REST reference). Each request is checked against the spec where practical
(method, path, auth headers, required body fields and their types); a
violation is answered 400 in the provider's error format and recorded.

Control (for the tests, not part of any provider):
  GET  /_stats    {"total": n, "paths": {path: n}, "violations": [...], "last": {path: body}}
  POST /_control  {"faults": ["429", ...], "sticky": "500", "delay_ms": 50,
                   "dim": 64, "answer": "...", "key": "sk-test", "reset": true,
                   "mix": {"seed": 7, "rates": {"429": 0.05, "cut": 0.02, ...}},
                   "stall_ms": 30000}
Tool use (ragdb query --agentic): when a chat request offers the tool
search_knowledge_base, "tool_mode" (POST /_control) decides the reply:
  lookup (default)  no tool result yet: a tool call whose query is the text
                    after "lookup: " in the question (else the question);
                    after a result: an answer quoting the first new source of
                    the last result with its [n]
  always            a tool call on every request that allows one
  bad_args          first a call with arguments that are not JSON (OpenAI) or
                    lack "query" (the others), then as lookup
  unknown_tool      first a call to a tool that does not exist, then as lookup
  never             the plain answer
in each provider's format, streamed and whole (Anthropic says a sentence
before its tool_use block, as Claude does). Tool conversations are checked
as the real APIs check them (a result for every call, matching ids, tools
declared, argument types); a violation is a 400.
Faults, one consumed per provider request ("sticky" applies to every one):
  429 (Retry-After: 1), 429date (Retry-After as an HTTP date), 500, 503, 529
  (Anthropic overloaded_error), 401, 400, 404, stall (sleeps 30 s), cut (a
  stream or body stopped half-way, connection closed), truncated (a stream
  that ends cleanly without its end marker), malformed (bad JSON), wrongdim,
  empty (no vectors), split (stream sent one byte per chunk), error_event
  (a provider error inside the stream).
A random mix ("mix", for load tests): when no queued fault and no sticky one
applies, each provider request draws one fault from "rates" (kind ->
probability, summing to at most 1) with a random.Random(seed); "mix": null
turns it off. /_stats "injected" counts the faults served, by kind.
"""
import argparse
import email.utils
import hashlib
import json
import math
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_LOCK = threading.Lock()
STATE = {}


def reset_state():
    STATE.clear()
    STATE.update(total=0, paths={}, violations=[], last={}, faults=[], sticky=None,
                 delay_ms=0, dim=64, key=None, in_flight=0, max_in_flight=0,
                 answer="Rotate the signing keys every 90 days with `ragdb keys rotate` [1]. "
                        "Old keys stay valid for a day [2].",
                 usage_in=1000, usage_out=500, mix=None, mix_rng=None, injected={},
                 stall_ms=30000, tool_mode="lookup")


def fake_vector(text, dim):
    """A deterministic bag-of-words vector: texts sharing words are close."""
    v = [0.0] * dim
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        h = hashlib.md5(w.encode()).digest()
        for k in range(4):
            i = int.from_bytes(h[k * 4:k * 4 + 3], "little") % dim
            v[i] += 1.0 if h[k * 4 + 3] & 1 else -1.0
    if not any(v):
        v[0] = 1.0
    n = math.sqrt(sum(x * x for x in v))
    return [x / n * 3.0 for x in v]  # not unit length: ragdb must normalise


def draw_fault(rates, rng):
    """One fault kind drawn with the given probabilities, or None (healthy)."""
    x = rng.random()
    for kind in sorted(rates):
        x -= rates[kind]
        if x < 0:
            return kind
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # ------------------------------------------------------------ helpers
    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_raw(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, message, etype="invalid_request_error", headers=None):
        p = self.provider
        if p == "anthropic":
            obj = {"type": "error", "error": {"type": etype, "message": message}}
        elif p == "openai":
            obj = {"error": {"message": message, "type": etype, "param": None, "code": None}}
        elif p == "gemini":
            status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                      404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                      503: "UNAVAILABLE"}.get(code, "UNKNOWN")
            obj = {"error": {"code": code, "message": message, "status": status}}
        elif p == "tei":
            obj = {"error": message, "error_type": etype}
        else:  # ollama
            obj = {"error": message}
        self.send_json(code, obj, headers)

    def violation(self, what):
        with STATE_LOCK:
            STATE["violations"].append("%s %s: %s" % (self.command, self.path, what))
        self.error(400, "fake server: request violates the spec: " + what)
        return False

    def start_stream(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, pieces, ctype, fault):
        """Send the pieces (bytes) as one streamed body, with the fault."""
        self.start_stream(ctype)
        data = b"".join(pieces)
        if fault == "cut":
            self.chunk(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return  # no terminating chunk: the transfer is cut off
        if fault == "split":
            for i in range(len(data)):
                self.chunk(data[i:i + 1])
                time.sleep(0.0005)
        else:
            for p in pieces:
                self.chunk(p)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------ dispatch
    def do_GET(self):
        if self.path == "/_stats":
            with STATE_LOCK:
                obj = {k: STATE[k] for k in ("total", "paths", "violations", "last",
                                             "max_in_flight", "injected")}
            return self.send_json(200, obj)
        self.provider = "openai"
        return self.error(404, "no such path " + self.path, "not_found_error")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_control":
            ctl = json.loads(raw or b"{}")
            with STATE_LOCK:
                if ctl.get("reset"):
                    reset_state()
                for k in ("faults", "sticky", "delay_ms", "dim", "answer", "key",
                          "usage_in", "usage_out", "mix", "stall_ms", "tool_mode"):
                    if k in ctl:
                        STATE[k] = ctl[k]
                if "mix" in ctl:
                    STATE["mix_rng"] = random.Random((ctl["mix"] or {}).get("seed", 1))
            return self.send_json(200, {"ok": True})
        path = self.path.split("?", 1)[0]
        self.provider = self.provider_of(path)
        with STATE_LOCK:
            STATE["total"] += 1
            STATE["paths"][path] = STATE["paths"].get(path, 0) + 1
            fault = STATE["faults"].pop(0) if STATE["faults"] else STATE["sticky"]
            if not fault and STATE["mix"]:
                fault = draw_fault(STATE["mix"].get("rates", {}), STATE["mix_rng"])
            if fault:
                STATE["injected"][fault] = STATE["injected"].get(fault, 0) + 1
            delay = STATE["delay_ms"]
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
        try:
            if delay:
                time.sleep(delay / 1000.0)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return self.violation("the body is not JSON")
            with STATE_LOCK:
                STATE["last"][path] = body
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return self.violation("Content-Type must be application/json")
            if not isinstance(body, dict) and self.provider != "tei":
                return self.violation("the body must be a JSON object")
            if not self.check_auth():
                return
            if fault and self.plain_fault(fault):
                return
            route = self.route(path)
            if route is None:
                return self.error(404, "no such path " + path, "not_found_error")
            route(body, fault)
        finally:
            with STATE_LOCK:
                STATE["in_flight"] -= 1

    def provider_of(self, path):
        if path.startswith("/v1beta/"):
            return "gemini"
        if path == "/v1/messages":
            return "anthropic"
        if path.startswith("/v1/"):
            return "openai"
        if path.startswith("/api/"):
            return "ollama"
        return "tei"

    def route(self, path):
        if path == "/v1/embeddings":
            return self.openai_embed
        if path == "/v1/chat/completions":
            return self.openai_chat
        if path == "/v1/messages":
            return self.anthropic_messages
        if path == "/api/embed":
            return self.ollama_embed
        if path == "/api/chat":
            return self.ollama_chat
        if path == "/embed":
            return self.tei_embed
        m = re.match(r"^/v1beta/models/([^/:]+):(batchEmbedContents|streamGenerateContent|generateContent)$", path)
        if m:
            self.gemini_model = m.group(1)
            return {"batchEmbedContents": self.gemini_embed,
                    "streamGenerateContent": self.gemini_stream,
                    "generateContent": self.gemini_generate}[m.group(2)]
        return None

    def check_auth(self):
        key = STATE["key"]
        p = self.provider
        if p == "anthropic":
            if not self.headers.get("anthropic-version"):
                return self.violation("the anthropic-version header is required")
            got = self.headers.get("x-api-key")
            if got is None:
                return self.violation("the x-api-key header is required")
        elif p == "gemini":
            got = self.headers.get("x-goog-api-key")
            if got is None:
                return self.violation("the x-goog-api-key header is required")
        else:
            a = self.headers.get("Authorization")
            got = a[7:] if a and a.startswith("Bearer ") else None
            if key and got is None and p == "openai":
                self.error(401, "You didn't provide an API key.", "invalid_request_error")
                return False
        if key and got != key and not (got is None and p in ("ollama", "tei")):
            self.error(401, "Incorrect API key provided.", "authentication_error")
            return False
        return True

    def plain_fault(self, fault):
        """Faults answered before the route; True if the request is done."""
        if fault in ("429", "429date"):
            ra = "1" if fault == "429" else email.utils.formatdate(time.time() + 1, usegmt=True)
            self.error(429, "Rate limit reached for requests", "rate_limit_error",
                       {"Retry-After": ra})
            return True
        if fault in ("500", "503"):
            self.error(int(fault), "The server had an error while processing your request.",
                       "api_error")
            return True
        if fault == "529":
            self.error(529, "Overloaded", "overloaded_error")
            return True
        if fault in ("400", "401", "404"):
            msg = {"400": "Invalid request: bad model parameter",
                   "401": "invalid x-api-key", "404": "model: no-such-model not found"}[fault]
            self.error(int(fault), msg, {"400": "invalid_request_error",
                                         "401": "authentication_error",
                                         "404": "not_found_error"}[fault])
            return True
        if fault == "stall":
            time.sleep(STATE["stall_ms"] / 1000.0)
            self.error(500, "stalled", "api_error")
            return True
        return False

    # ------------------------------------------------------------ embeddings
    def vectors(self, texts, fault):
        dim = STATE["dim"] + (1 if fault == "wrongdim" else 0)
        return [fake_vector(t, dim) for t in texts]

    def body_fault(self, fault):
        if fault == "malformed":
            self.send_raw(200, b'{"data": [{"embedding": [0.1, 0.2,')
            return True
        if fault == "cut":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"data": [')
            self.close_connection = True
            return True
        return False

    def openai_embed(self, b, fault):
        if not isinstance(b.get("model"), str):
            return self.violation("model (string) is required")
        inp = b.get("input")
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not inp or not all(isinstance(x, str) and x for x in inp):
            return self.violation("input must be a non-empty string or array of non-empty strings")
        if len(inp) > 2048:
            return self.violation("input holds more than 2048 items")
        if b.get("encoding_format") not in (None, "float", "base64"):
            return self.violation("encoding_format must be float or base64")
        if "dimensions" in b and (not isinstance(b["dimensions"], int) or b["dimensions"] < 1):
            return self.violation("dimensions must be an integer >= 1")
        if self.body_fault(fault):
            return
        vecs = [] if fault == "empty" else self.vectors(inp, fault)
        if "dimensions" in b and fault != "wrongdim":
            vecs = [v[:b["dimensions"]] + [0.0] * (b["dimensions"] - len(v)) for v in vecs]
        self.send_json(200, {"object": "list", "model": b["model"],
                             "data": [{"object": "embedding", "index": i, "embedding": v}
                                      for i, v in reversed(list(enumerate(vecs)))],
                             "usage": {"prompt_tokens": 8, "total_tokens": 8}})

    def ollama_embed(self, b, fault):
        if not isinstance(b.get("model"), str):
            return self.violation("model (string) is required")
        inp = b.get("input")
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not all(isinstance(x, str) for x in inp):
            return self.violation("input must be a string or an array of strings")
        if "truncate" in b and not isinstance(b["truncate"], bool):
            return self.violation("truncate must be a boolean")
        if self.body_fault(fault):
            return
        vecs = [] if fault == "empty" else self.vectors(inp, fault)
        self.send_json(200, {"model": b["model"], "embeddings": vecs, "total_duration": 1000,
                             "load_duration": 10, "prompt_eval_count": 8})

    def tei_embed(self, b, fault):
        if not isinstance(b, dict) or "inputs" not in b:
            return self.violation("inputs is required")
        inp = b["inputs"]
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not all(isinstance(x, str) for x in inp):
            return self.violation("inputs must be a string or an array of strings")
        if len(inp) > 32:
            self.error(422, "batch size %d > maximum allowed batch size 32" % len(inp),
                       "Validation")
            return
        for k in ("normalize", "truncate"):
            if k in b and not isinstance(b[k], bool):
                return self.violation(k + " must be a boolean")
        if self.body_fault(fault):
            return
        vecs = [] if fault == "empty" else self.vectors(inp, fault)
        self.send_json(200, vecs)

    def gemini_embed(self, b, fault):
        reqs = b.get("requests")
        if not isinstance(reqs, list) or not reqs:
            return self.violation("requests must be a non-empty array")
        if len(reqs) > 100:
            return self.error(400, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
        texts = []
        for r in reqs:
            if r.get("model") != "models/" + self.gemini_model:
                return self.violation("each request's model must be models/%s, found %r"
                                      % (self.gemini_model, r.get("model")))
            if r.get("taskType") not in (None, "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT",
                                         "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING"):
                return self.violation("unknown taskType %r" % r.get("taskType"))
            parts = (r.get("content") or {}).get("parts")
            if not isinstance(parts, list) or not parts or not isinstance(parts[0].get("text"), str):
                return self.violation("content.parts[].text is required")
            texts.append(" ".join(p.get("text", "") for p in parts))
        if self.body_fault(fault):
            return
        vecs = [] if fault == "empty" else self.vectors(texts, fault)
        od = reqs[0].get("outputDimensionality")
        if od and fault != "wrongdim":
            vecs = [v[:od] + [0.0] * (od - len(v)) for v in vecs]
        self.send_json(200, {"embeddings": [{"values": v} for v in vecs]})

    # ------------------------------------------------------------ chat
    def pieces_of(self, text, n=7):
        return [text[i:i + n] for i in range(0, len(text), n)]

    def check_messages(self, b, roles):
        msgs = b.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return self.violation("messages must be a non-empty array")
        for m in msgs:
            c = m.get("content")
            ok = isinstance(c, str)
            if self.provider == "anthropic":
                ok = ok or (isinstance(c, list) and c and all(isinstance(x, dict) for x in c))
            if self.provider == "openai" and m.get("role") == "assistant" and m.get("tool_calls"):
                ok = ok or c is None
            if m.get("role") not in roles or not ok:
                return self.violation("each message needs a role in %s and string content" % (roles,))
        return self.check_tool_conversation(b)

    # ------------------------------------------------------------ tool use
    def tools_offered(self, b):
        """(names of the tools declared, whether the model may call them)."""
        p, tools = self.provider, b.get("tools") or []
        names, on = [], True
        if p == "anthropic":
            names = [t.get("name") for t in tools]
            on = (b.get("tool_choice") or {}).get("type", "auto") != "none"
        elif p in ("openai", "ollama"):
            names = [(t.get("function") or {}).get("name") for t in tools]
            on = b.get("tool_choice", "auto") != "none"
        elif p == "gemini":
            for t in tools:
                names += [d.get("name") for d in t.get("functionDeclarations") or []]
            mode = ((b.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode", "AUTO")
            on = mode != "NONE"
        return names, on and bool(names)

    def check_tool_decls(self, b):
        p, tools = self.provider, b.get("tools")
        if tools is None:
            return True
        if not isinstance(tools, list):
            return self.violation("tools must be an array")
        for t in tools:
            if p == "anthropic":
                if not isinstance(t.get("name"), str) or not isinstance(t.get("input_schema"), dict) \
                        or t["input_schema"].get("type") != "object":
                    return self.violation("each tool needs a name and an input_schema of type object")
            elif p in ("openai", "ollama"):
                f = t.get("function")
                if t.get("type") != "function" or not isinstance(f, dict) or \
                        not isinstance(f.get("name"), str) or not isinstance(f.get("parameters", {}), dict):
                    return self.violation("each tool needs type function and function.name/parameters")
            else:
                ds = t.get("functionDeclarations")
                if not isinstance(ds, list) or not all(isinstance(d.get("name"), str) for d in ds):
                    return self.violation("tools[].functionDeclarations[] need a name")
        if p == "anthropic" and "tool_choice" in b and \
                (b["tool_choice"] or {}).get("type") not in ("auto", "any", "tool", "none"):
            return self.violation("tool_choice.type must be auto, any, tool or none")
        if p == "openai" and "tool_choice" in b and b["tool_choice"] not in ("auto", "none", "required") \
                and not isinstance(b["tool_choice"], dict):
            return self.violation("tool_choice must be auto, none, required or an object")
        return True

    def check_tool_conversation(self, b):
        """What the real APIs refuse in a conversation holding tool calls."""
        if not self.check_tool_decls(b):
            return False
        p = self.provider
        msgs = b.get("messages") or b.get("contents") or []
        names = self.tools_offered(b)[0]
        for i, m in enumerate(msgs):
            nxt = msgs[i + 1] if i + 1 < len(msgs) else None
            if p == "anthropic":
                blocks = m["content"] if isinstance(m["content"], list) else []
                uses = [x for x in blocks if x.get("type") == "tool_use"]
                results = [x for x in blocks if x.get("type") == "tool_result"]
                if (uses or results) and not names:
                    return self.violation("requests which include tool_use or tool_result blocks must define tools")
                if m["role"] == "user" and uses or m["role"] == "assistant" and results:
                    return self.violation("tool_use blocks belong to assistant turns, tool_result blocks to user turns")
                for u in uses:
                    if not isinstance(u.get("id"), str) or not isinstance(u.get("name"), str) or \
                            not isinstance(u.get("input"), dict):
                        return self.violation("tool_use needs id, name and an input object")
                for r in results:
                    if not isinstance(r.get("content"), (str, list)) or "is_error" in r and \
                            not isinstance(r["is_error"], bool):
                        return self.violation("tool_result content must be a string or blocks; is_error a boolean")
                if uses:
                    got = [x.get("tool_use_id") for x in (nxt or {}).get("content") or []
                           if isinstance(x, dict) and x.get("type") == "tool_result"] \
                        if nxt and isinstance(nxt.get("content"), list) else []
                    if sorted(got) != sorted(u["id"] for u in uses):
                        return self.violation("tool_use ids were found without tool_result blocks "
                                              "immediately after: each tool_use block must have a "
                                              "corresponding tool_result block in the next message")
            elif p in ("openai", "ollama"):
                calls = m.get("tool_calls")
                if m["role"] == "tool":
                    if not isinstance(m.get("content"), str):
                        return self.violation("a tool message needs string content")
                    if p == "openai" and not isinstance(m.get("tool_call_id"), str):
                        return self.violation("a tool message needs tool_call_id")
                    if p == "ollama" and "tool_name" in m and not isinstance(m["tool_name"], str):
                        return self.violation("tool_name must be a string")
                    prev = [x for x in msgs[:i] if x["role"] not in ("tool",)]
                    if not prev or not prev[-1].get("tool_calls"):
                        return self.violation("messages with role 'tool' must be a response to a "
                                              "preceding message with 'tool_calls'")
                if calls is not None:
                    if m["role"] != "assistant" or not isinstance(calls, list):
                        return self.violation("tool_calls belong to assistant messages")
                    for c in calls:
                        f = c.get("function") or {}
                        if not isinstance(f.get("name"), str):
                            return self.violation("tool_calls[].function.name is required")
                        if p == "openai":
                            if not isinstance(c.get("id"), str) or c.get("type") != "function" or \
                                    not isinstance(f.get("arguments"), str):
                                return self.violation("tool_calls[] need id, type function and "
                                                      "function.arguments as a string")
                        elif not isinstance(f.get("arguments"), dict):
                            return self.violation("tool_calls[].function.arguments must be an object")
                    if p == "openai":
                        after = []
                        for x in msgs[i + 1:]:
                            if x["role"] != "tool":
                                break
                            after.append(x.get("tool_call_id"))
                        if sorted(after) != sorted(c["id"] for c in calls):
                            return self.violation("an assistant message with 'tool_calls' must be "
                                                  "followed by tool messages responding to each "
                                                  "'tool_call_id'")
            else:  # gemini
                parts = m.get("parts") or []
                fcs = [x["functionCall"] for x in parts if "functionCall" in x]
                frs = [x["functionResponse"] for x in parts if "functionResponse" in x]
                if fcs and m["role"] != "model":
                    return self.violation("functionCall parts belong to model turns")
                if frs and m["role"] not in ("user", "function"):
                    return self.violation("functionResponse parts belong to user turns")
                for fr in frs:
                    if not isinstance(fr.get("name"), str) or not isinstance(fr.get("response"), dict):
                        return self.violation("functionResponse needs a name and a response object")
                for fc in fcs:
                    if not isinstance(fc.get("name"), str) or not isinstance(fc.get("args", {}), dict):
                        return self.violation("functionCall needs a name and args object")
                if fcs:
                    got = [x["functionResponse"].get("name") for x in (nxt or {}).get("parts") or []
                           if "functionResponse" in x]
                    if sorted(got) != sorted(fc["name"] for fc in fcs):
                        return self.violation("please ensure that the number of function response "
                                              "parts is equal to the number of function call parts "
                                              "of the function call turn")
        return True

    def tool_results(self, b):
        """The tool results in the request, oldest first (text)."""
        p, out = self.provider, []
        if p == "anthropic":
            for m in b.get("messages") or []:
                if isinstance(m.get("content"), list):
                    for x in m["content"]:
                        if x.get("type") == "tool_result":
                            c = x.get("content")
                            out.append(c if isinstance(c, str) else
                                       "".join(y.get("text", "") for y in c))
        elif p in ("openai", "ollama"):
            out = [m["content"] for m in b.get("messages") or [] if m.get("role") == "tool"]
        else:
            for m in b.get("contents") or []:
                for x in m.get("parts") or []:
                    if "functionResponse" in x:
                        r = x["functionResponse"]["response"]
                        out.append(r.get("result") or r.get("error") or json.dumps(r))
        return out

    def question_of(self, b):
        p = self.provider
        if p == "gemini":
            first = ((b.get("contents") or [{}])[0].get("parts") or [{}])[0].get("text", "")
        else:
            us = [m for m in b.get("messages") or [] if m.get("role") == "user"]
            first = us[0]["content"] if us and isinstance(us[0]["content"], str) else ""
        q = first.rsplit("Question: ", 1)[-1].strip()
        m = re.search(r"lookup: ([^\n?]+)", q)
        return (m.group(1) if m else q).strip()

    def tool_plan(self, b):
        """None (answer as usual), ("call", name, args) or ("text", answer)."""
        names, on = self.tools_offered(b)
        results = self.tool_results(b)
        if "search_knowledge_base" not in names and not results:
            return None
        on = on and "search_knowledge_base" in names
        mode = STATE["tool_mode"]
        n = len(results)
        q = self.question_of(b)
        if on and mode != "never":
            if mode == "always":
                return ("call", "search_knowledge_base", {"query": q})
            if mode == "bad_args" and n == 0:
                if self.provider == "openai":
                    return ("call", "search_knowledge_base", '{"query": "unterminated')
                return ("call", "search_knowledge_base", {"q": q})
            if mode == "unknown_tool" and n == 0:
                return ("call", "delete_everything", {"query": q})
            if n == (1 if mode in ("bad_args", "unknown_tool") else 0):
                return ("call", "search_knowledge_base", {"query": q})
        if mode == "never" or not results:
            return ("text", STATE["answer"])
        m = None
        for r in reversed(results):
            m = re.search(r'<source n="(\d+)">\n([^\n]*)', r)
            if m:
                break
        if not m:
            return ("text", "The searches found nothing new (%d tool results)." % n)
        first = re.split(r"(?<=[.!?])\s", m.group(2).strip())[0].rstrip(".")
        return ("text", "After %d tool results: %s [%s]." % (n, first, m.group(1)))

    def tool_args_text(self, args):
        return args if isinstance(args, str) else json.dumps(args)

    def anthropic_messages(self, b, fault):
        if not isinstance(b.get("model"), str):
            return self.violation("model is required")
        if not isinstance(b.get("max_tokens"), int) or b["max_tokens"] < 1:
            return self.violation("max_tokens (integer >= 1) is required")
        if "system" in b and not isinstance(b["system"], (str, list)):
            return self.violation("system must be a string or an array of text blocks")
        if "temperature" in b and not (0 <= b["temperature"] <= 1):
            return self.violation("temperature must be in 0..1")
        if not self.check_messages(b, ("user", "assistant")):
            return
        answer = STATE["answer"]
        uin, uout = STATE["usage_in"], STATE["usage_out"]
        if fault == "malformed":
            return self.send_raw(200, b'{"id": "msg_1", "content": [')
        plan = self.tool_plan(b)
        if plan and plan[0] == "text":
            answer = plan[1]
        elif plan:
            return self.anthropic_tool_call(b, plan, fault)
        if not b.get("stream"):
            return self.send_json(200, {
                "id": "msg_01", "type": "message", "role": "assistant", "model": b["model"],
                "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": uin, "output_tokens": uout}})

        def ev(name, obj):
            return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj))).encode()
        p = [ev("message_start", {"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "content": [],
            "model": b["model"], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": uin, "output_tokens": 1}}}),
            ev("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
            ev("ping", {"type": "ping"})]
        for i, piece in enumerate(self.pieces_of(answer)):
            p.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": piece}}))
            if fault == "error_event" and i == 2:
                p.append(ev("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                 "message": "Overloaded"}}))
                return self.stream(p, "text/event-stream", None)
        p.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
        p.append(ev("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": uout}}))
        if fault != "truncated":
            p.append(ev("message_stop", {"type": "message_stop"}))
        self.stream(p, "text/event-stream", fault)

    def anthropic_tool_call(self, b, plan, fault):
        _, name, args = plan
        uin, uout = STATE["usage_in"], STATE["usage_out"]
        pre = "Let me search the knowledge base for that."
        tid = "toolu_%02d" % (len(self.tool_results(b)) + 1)
        if not b.get("stream"):
            return self.send_json(200, {
                "id": "msg_01", "type": "message", "role": "assistant", "model": b["model"],
                "content": [{"type": "text", "text": pre},
                            {"type": "tool_use", "id": tid, "name": name, "input": args}],
                "stop_reason": "tool_use", "stop_sequence": None,
                "usage": {"input_tokens": uin, "output_tokens": uout}})

        def ev(n, obj):
            return ("event: %s\ndata: %s\n\n" % (n, json.dumps(obj))).encode()
        p = [ev("message_start", {"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "content": [],
            "model": b["model"], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": uin, "output_tokens": 1}}}),
            ev("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": pre}}),
            ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ev("content_block_start", {"type": "content_block_start", "index": 1,
                                       "content_block": {"type": "tool_use", "id": tid,
                                                         "name": name, "input": {}}})]
        for piece in self.pieces_of(self.tool_args_text(args), 5):
            p.append(ev("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                "delta": {"type": "input_json_delta",
                                                          "partial_json": piece}}))
        p.append(ev("content_block_stop", {"type": "content_block_stop", "index": 1}))
        p.append(ev("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                      "usage": {"output_tokens": uout}}))
        p.append(ev("message_stop", {"type": "message_stop"}))
        self.stream(p, "text/event-stream", fault)

    def openai_tool_call(self, b, plan, fault):
        _, name, args = plan
        usage = {"prompt_tokens": STATE["usage_in"], "completion_tokens": STATE["usage_out"],
                 "total_tokens": STATE["usage_in"] + STATE["usage_out"]}
        cid = "call_%02d" % (len(self.tool_results(b)) + 1)
        at = self.tool_args_text(args)
        if not b.get("stream"):
            return self.send_json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": b["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": None,
                                                     "tool_calls": [{"id": cid, "type": "function",
                                                                     "function": {"name": name,
                                                                                  "arguments": at}}]},
                             "finish_reason": "tool_calls", "logprobs": None}], "usage": usage})

        def chunk(choices, u=None):
            o = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                 "model": b["model"], "choices": choices}
            if (b.get("stream_options") or {}).get("include_usage"):
                o["usage"] = u
            return ("data: %s\n\n" % json.dumps(o)).encode()
        p = [chunk([{"index": 0, "delta": {"role": "assistant", "content": None,
                                           "tool_calls": [{"index": 0, "id": cid, "type": "function",
                                                           "function": {"name": name,
                                                                        "arguments": ""}}]},
                     "finish_reason": None}])]
        for piece in self.pieces_of(at, 6):
            p.append(chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                "arguments": piece}}]}, "finish_reason": None}]))
        p.append(chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))
        if (b.get("stream_options") or {}).get("include_usage"):
            p.append(chunk([], usage))
        p.append(b"data: [DONE]\n\n")
        self.stream(p, "text/event-stream", fault)

    def openai_chat(self, b, fault):
        if not isinstance(b.get("model"), str):
            return self.violation("model is required")
        if not self.check_messages(b, ("system", "developer", "user", "assistant", "tool")):
            return
        if "stream_options" in b and not b.get("stream"):
            return self.violation("stream_options is only allowed with stream: true")
        for k in ("max_tokens", "max_completion_tokens"):
            if k in b and (not isinstance(b[k], int) or b[k] < 1):
                return self.violation(k + " must be an integer >= 1")
        answer = STATE["answer"]
        usage = {"prompt_tokens": STATE["usage_in"], "completion_tokens": STATE["usage_out"],
                 "total_tokens": STATE["usage_in"] + STATE["usage_out"]}
        if fault == "malformed":
            return self.send_raw(200, b'{"id": "chatcmpl-1", "choices": [')
        plan = self.tool_plan(b)
        if plan and plan[0] == "text":
            answer = plan[1]
        elif plan:
            return self.openai_tool_call(b, plan, fault)
        if not b.get("stream"):
            return self.send_json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": b["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop", "logprobs": None}], "usage": usage})

        def chunk(choices, u=None):
            o = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                 "model": b["model"], "choices": choices}
            if (b.get("stream_options") or {}).get("include_usage"):
                o["usage"] = u
            return ("data: %s\n\n" % json.dumps(o)).encode()
        p = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                     "finish_reason": None}])]
        for piece in self.pieces_of(answer):
            p.append(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        p.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if (b.get("stream_options") or {}).get("include_usage"):
            p.append(chunk([], usage))
        if fault != "truncated":
            p.append(b"data: [DONE]\n\n")
        self.stream(p, "text/event-stream", fault)

    def ollama_chat(self, b, fault):
        if not isinstance(b.get("model"), str):
            return self.violation("model is required")
        if not self.check_messages(b, ("system", "user", "assistant", "tool")):
            return
        if "options" in b and not isinstance(b["options"], dict):
            return self.violation("options must be an object")
        answer = STATE["answer"]
        final = {"model": b["model"], "created_at": "2024-01-01T00:00:00Z",
                 "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "stop", "total_duration": 1000, "load_duration": 10,
                 "prompt_eval_count": STATE["usage_in"], "eval_count": STATE["usage_out"]}
        if fault == "malformed":
            return self.stream([b'{"model": "x", "message": {"content": "Ro'], "application/x-ndjson", None)
        plan = self.tool_plan(b)
        if plan and plan[0] == "text":
            answer = plan[1]
        elif plan:
            calls = [{"function": {"name": plan[1], "arguments": plan[2]}}]
            if b.get("stream") is False:
                final["message"]["tool_calls"] = calls
                return self.send_json(200, final)
            first = {"model": b["model"], "created_at": "2024-01-01T00:00:00Z",
                     "message": {"role": "assistant", "content": "", "tool_calls": calls},
                     "done": False}
            return self.stream([(json.dumps(first) + "\n").encode(),
                                (json.dumps(final) + "\n").encode()], "application/x-ndjson", fault)
        if b.get("stream") is False:
            final["message"]["content"] = answer
            return self.send_json(200, final)
        p = []
        for piece in self.pieces_of(answer):
            p.append((json.dumps({"model": b["model"], "created_at": "2024-01-01T00:00:00Z",
                                  "message": {"role": "assistant", "content": piece},
                                  "done": False}) + "\n").encode())
        if fault == "error_event":
            p.insert(2, b'{"error": "an error was encountered while running the model"}\n')
        if fault != "truncated":
            p.append((json.dumps(final) + "\n").encode())
        self.stream(p, "application/x-ndjson", fault)

    def gemini_check(self, b):
        c = b.get("contents")
        if not isinstance(c, list) or not c:
            return self.violation("contents must be a non-empty array")
        for x in c:
            if x.get("role") not in ("user", "model", "function") or not isinstance(x.get("parts"), list):
                return self.violation("each content needs role user|model and parts")
        if not self.check_tool_conversation(b):
            return False
        si = b.get("systemInstruction")
        if si is not None and not isinstance(si.get("parts"), list):
            return self.violation("systemInstruction.parts must be an array")
        return True

    def gemini_obj(self, text, finish, usage):
        o = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                             "index": 0}], "modelVersion": self.gemini_model}
        if finish:
            o["candidates"][0]["finishReason"] = "STOP"
        if usage:
            o["usageMetadata"] = {"promptTokenCount": STATE["usage_in"],
                                  "candidatesTokenCount": STATE["usage_out"],
                                  "totalTokenCount": STATE["usage_in"] + STATE["usage_out"]}
        return o

    def gemini_call_obj(self, plan):
        o = self.gemini_obj("", True, True)
        o["candidates"][0]["content"]["parts"] = [
            {"functionCall": {"name": plan[1], "args": plan[2]}, "thoughtSignature": "c2lnbmF0dXJl"}]
        return o

    def gemini_generate(self, b, fault):
        if not self.gemini_check(b):
            return
        if fault == "malformed":
            return self.send_raw(200, b'{"candidates": [')
        plan = self.tool_plan(b)
        if plan and plan[0] == "call":
            return self.send_json(200, self.gemini_call_obj(plan))
        self.send_json(200, self.gemini_obj(plan[1] if plan else STATE["answer"], True, True))

    def gemini_stream(self, b, fault):
        if "alt=sse" not in self.path:
            return self.violation("streamGenerateContent needs ?alt=sse for server-sent events")
        if not self.gemini_check(b):
            return
        plan = self.tool_plan(b)
        if plan and plan[0] == "call":
            return self.stream([("data: %s\r\n\r\n" % json.dumps(self.gemini_call_obj(plan))).encode()],
                               "text/event-stream", fault)
        pcs = self.pieces_of(plan[1] if plan else STATE["answer"], 20)
        p = []
        for i, piece in enumerate(pcs):
            last = i == len(pcs) - 1
            p.append(("data: %s\r\n\r\n" % json.dumps(
                self.gemini_obj(piece, last and fault != "truncated", True))).encode())
        if fault == "malformed":
            p.insert(1, b"data: {\"candidates\": [\r\n\r\n")
        self.stream(p, "text/event-stream", fault)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # Clients that hang up (a timeout test, a cut stream) are expected.
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--key")
    a = ap.parse_args()
    reset_state()
    STATE["delay_ms"] = a.delay_ms
    STATE["dim"] = a.dim
    STATE["key"] = a.key
    srv = Server(("127.0.0.1", 0), Handler)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
