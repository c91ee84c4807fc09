-- tests/soak/mix.lua — the valid traffic of the `ragdb serve` soak
-- (tests/soak/serve_soak.sh) for wrk: searches (vector, bm25, hybrid, with
-- filters), questions (extractive; streamed and not), document writes and
-- deletes, /health, /metrics, OpenAI embeddings and chat completions, in
-- fixed proportions. Every response is counted by status class per thread;
-- done() prints the totals as one JSON line ("MIX {...}") that the soak
-- script checks: every request here is valid, so any 5xx (or 4xx) is a bug.
--
-- Settings come from the environment: SOAK_RO_KEY, SOAK_RW_KEY.

local ro = os.getenv("SOAK_RO_KEY") or ""
local rw = os.getenv("SOAK_RW_KEY") or ""
local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local queries = {
   "restore from backup", "rotate the API signing keys", "incident response severity",
   "onboarding checklist for new engineers", "release notes", "architecture of the storage layer",
   "how often are backups tested", "who is on call", "lighthouse keeper", "espresso machine descaling",
   "quarterly budget review", "garden irrigation schedule",
}
local modes = { "vector", "bm25", "hybrid", "default" }
local filters = {
   nil, "source:*.md", "id:gen-*", "team = ops", "year >= 2020", { "id:gen-*", "team != sales" },
}

local json_h, json_rw

local function jstr(s)
   return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function filter_json(f)
   if f == nil then return "" end
   if type(f) == "string" then return ', "filter": ' .. jstr(f) end
   local parts = {}
   for _, e in ipairs(f) do table.insert(parts, jstr(e)) end
   return ', "filter": [' .. table.concat(parts, ", ") .. "]"
end

function init(args)
   json_h = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. ro }
   json_rw = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. rw }
   auth_ro = { ["Authorization"] = "Bearer " .. ro }
   auth_rw = { ["Authorization"] = "Bearer " .. rw }
   math.randomseed(tid * 7919 + os.time())
   c2, c4, c5, other, sent, writes = 0, 0, 0, 0, 0, 0
   by_status = {}
   created = 0
   confirmed = {}   -- ids whose write was answered, in answer order
   next_delete = 1  -- the next of them to delete
end

-- Weighted choice of what to send next.
local kinds = {
   { "search", 34 }, { "query", 10 }, { "query_stream", 6 }, { "doc_put", 7 }, { "doc_delete", 7 },
   { "doc_get", 5 }, { "doc_list", 3 }, { "health", 6 }, { "metrics", 3 }, { "embeddings", 8 },
   { "chat", 6 }, { "chat_stream", 3 }, { "ready", 2 },
}
local total_w = 0
for _, k in ipairs(kinds) do total_w = total_w + k[2] end

local function pick()
   local r = math.random() * total_w
   for _, k in ipairs(kinds) do
      r = r - k[2]
      if r <= 0 then return k[1] end
   end
   return "search"
end

local words = { "backup", "restore", "signing", "keys", "incident", "release", "garden", "budget",
                "lighthouse", "espresso", "storage", "replica", "snapshot", "latency", "quorum" }

local function text(n)
   local t = {}
   for i = 1, n do t[i] = words[math.random(#words)] end
   return table.concat(t, " ")
end

-- Write ids are per thread; a delete names an id whose write was answered
-- (response() reads it from the answer: wrk does not say which request an
-- answer is for), each once, oldest first, keeping KEEP of them stored. So
-- a 404 on a delete is the server's doing, whatever the order in which
-- connections and server threads got their turns.
local KEEP = 20

function request()
   local k = pick()
   sent = sent + 1
   if k == "search" then
      local q = queries[math.random(#queries)]
      local body = '{"query": ' .. jstr(q) .. ', "k": ' .. math.random(1, 20) .. ', "mode": "' ..
         modes[math.random(#modes)] .. '"' .. filter_json(filters[math.random(#filters + 1)]) .. "}"
      return wrk.format("POST", "/v1/search", json_h, body)
   elseif k == "query" or k == "query_stream" then
      local q = queries[math.random(#queries)] .. "?"
      local body = '{"question": ' .. jstr(q) .. ', "k": ' .. math.random(1, 6) ..
         (k == "query_stream" and ', "stream": true' or "") .. "}"
      return wrk.format("POST", "/v1/query", json_h, body)
   elseif k == "doc_put" or (k == "doc_delete" and #confirmed - next_delete < KEEP) then
      created = created + 1
      writes = writes + 1
      local body = '{"id": "soak-' .. tid .. "-" .. created .. '", "title": "Soak ' .. created ..
         '", "format": "markdown", "metadata": {"team": "soak", "n": ' .. created .. '}, "text": "# Soak ' ..
         created .. "\\n\\n" .. text(math.random(20, 200)) .. '"}'
      return wrk.format("POST", "/v1/documents", json_rw, body)
   elseif k == "doc_delete" then
      writes = writes + 1
      next_delete = next_delete + 1
      return wrk.format("DELETE", "/v1/documents/" .. confirmed[next_delete - 1], auth_rw)
   elseif k == "doc_get" then
      local ids = { "faq.md", "backups.md", "gen-0001", "gen-0042", "gen-0117" }
      return wrk.format("GET", "/v1/documents/" .. ids[math.random(#ids)], auth_ro)
   elseif k == "doc_list" then
      return wrk.format("GET", "/v1/documents?limit=" .. math.random(1, 50) .. "&after=gen-00" ..
         math.random(10, 99), auth_ro)
   elseif k == "health" then
      return wrk.format("GET", "/health")
   elseif k == "ready" then
      return wrk.format("GET", "/ready")
   elseif k == "metrics" then
      return wrk.format("GET", "/metrics", auth_ro)
   elseif k == "embeddings" then
      local body = '{"model": "text-embedding-3-small", "input": [' .. jstr(text(8)) .. ", " ..
         jstr(text(3)) .. "]" .. (math.random() < 0.5 and ', "encoding_format": "base64"' or "") .. "}"
      return wrk.format("POST", "/v1/embeddings", json_h, body)
   else
      local q = queries[math.random(#queries)] .. "?"
      local body = '{"model": "ragdb", "messages": [{"role": "system", "content": "Be brief."}, ' ..
         '{"role": "user", "content": ' .. jstr(q) .. "}]" ..
         (k == "chat_stream" and ', "stream": true, "stream_options": {"include_usage": true}' or "") .. "}"
      return wrk.format("POST", "/v1/chat/completions", json_h, body)
   end
end

function response(status, headers, body)
   local s = tostring(status)
   if status == 200 or status == 201 then
      local id, action = body:match('^{"documents":%[{"id":"(soak%-%d+%-%d+)","action":"(%a+)"')
      if id and action ~= "failed" then table.insert(confirmed, id) end
   end
   by_status[s] = (by_status[s] or 0) + 1
   if status >= 500 then c5 = c5 + 1
   elseif status >= 400 then c4 = c4 + 1
   elseif status >= 200 and status < 300 then c2 = c2 + 1
   else other = other + 1 end
end

function done(summary, latency, requests)
   local t = { c2 = 0, c4 = 0, c5 = 0, other = 0, writes = 0 }
   local statuses = {}
   for _, th in ipairs(threads) do
      t.c2 = t.c2 + th:get("c2")
      t.c4 = t.c4 + th:get("c4")
      t.c5 = t.c5 + th:get("c5")
      t.other = t.other + th:get("other")
      t.writes = t.writes + th:get("writes")
      local bs = th:get("by_status")
      for k, v in pairs(bs) do statuses[k] = (statuses[k] or 0) + v end
   end
   local e = summary.errors
   local parts = {}
   for k, v in pairs(statuses) do table.insert(parts, '"' .. k .. '": ' .. v) end
   io.write(string.format('MIX {"requests": %d, "seconds": %.1f, "2xx": %d, "4xx": %d, "5xx": %d, ' ..
      '"other": %d, "writes": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
      '"status": %d}, "latency_ms": {"p50": %.2f, "p99": %.2f, "max": %.2f}, "statuses": {%s}}\n',
      summary.requests, summary.duration / 1e6, t.c2, t.c4, t.c5, t.other, t.writes, e.connect, e.read,
      e.write, e.timeout, e.status, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
      latency.max / 1e3, table.concat(parts, ", ")))
end
