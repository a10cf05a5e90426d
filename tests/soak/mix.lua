-- wrk script for tests/soak/run.py: every endpoint in one rotation of requests, good and bad
-- (2xx, 4xx with keep-alive, malformed requests that the server answers 400/413/431 and closes,
-- which makes wrk reconnect), /echo with Content-Length and chunked bodies, /gather, /drip,
-- /sleep, /cpu, /anything, /bytes, /sse, /readyz, /live, and every /fault kind (reset, close,
-- hang, short, long, slowhead, garbage: each ends or breaks its connection, so wrk counts a read
-- error and reconnects). No HEAD and no 100-continue: wrk's parser would take a HEAD answer's
-- Content-Length as a body to wait for, and a 100 as the whole answer. One request per call
-- (pipelining is pipelined.lua's). Arguments after "--":
-- the pause in ms before each request (bounds the rate: 0 is as fast as the server goes).
-- At the end prints one "SOAK" line: totals, errors by kind and the count of each status.

local function raw(s)
   return (s:gsub("\n", "\r\n"))
end

local kb = string.rep("k", 1024)
local chunked = "400\r\n" .. kb .. "\r\n" .. "5\r\nhello\r\n0\r\n\r\n"

local mix

-- Weighted by repetition: mostly cheap good requests, like real traffic. Built in init():
-- before it, wrk.format() has no Host header to add.
local function build_mix()
   return {
   wrk.format("GET", "/hello"), wrk.format("GET", "/hello"), wrk.format("GET", "/hello"),
   wrk.format("GET", "/hello"), wrk.format("GET", "/healthz"),
   wrk.format("GET", "/"), wrk.format("GET", "/metrics"),
   wrk.format("GET", "/sleep?ms=5"), wrk.format("GET", "/sleep?ms=10&jitter=5"),
   wrk.format("GET", "/gather?ms=2,5,10"), wrk.format("GET", "/gather?ms=1,1,1,1,1,1,1,1&jitter=1"),
   wrk.format("GET", "/cpu?ms=1"), wrk.format("GET", "/drip?bytes=300&chunks=3&ms=2"),
   wrk.format("GET", "/status/201"), wrk.format("GET", "/status/503?ms=1"),
   wrk.format("GET", "/status/204"),
   wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, kb),
   wrk.format("POST", "/echo", {["Content-Type"] = "application/octet-stream"},
              string.rep("b", 64 * 1024)),
   wrk.format("POST", "/echo", {["Transfer-Encoding"] = "chunked"}, chunked),
   wrk.format("GET", "/hello", {["Content-Length"] = "5"}, "xxxxx"),
   wrk.format("PUT", "/anything/a/b?x=1", {["Content-Type"] = "application/json"}, '{"a":1}'),
   wrk.format("GET", "/bytes?n=4096&seed=7"), wrk.format("GET", "/sse?events=3&ms=2"),
   wrk.format("GET", "/readyz"), wrk.format("GET", "/live"),
   -- every fault kind: the server breaks the answer on purpose and ends the connection
   wrk.format("GET", "/fault?kind=reset&after=20"), wrk.format("GET", "/fault?kind=close"),
   wrk.format("GET", "/fault?kind=hang&ms=20"), wrk.format("GET", "/fault?kind=short&n=200"),
   wrk.format("GET", "/fault?kind=long&n=100"), wrk.format("GET", "/fault?kind=slowhead&ms=1"),
   wrk.format("GET", "/fault?kind=garbage&n=64"),
   -- 4xx that keep the connection
   wrk.format("GET", "/nope"), wrk.format("DELETE", "/hello"), wrk.format("GET", "/echo"),
   wrk.format("GET", "/sleep?ms=1e3"), wrk.format("GET", "/gather?ms=1,,2"),
   wrk.format("GET", "/status/99"), wrk.format("GET", "/drip?bytes=10&chunks=0&ms=1"),
   wrk.format("GET", "/fault?kind=nope"), wrk.format("GET", "/bytes?n=-1"),
   -- malformed: 400/413/431, then the server closes
   raw("GET /hello HTTP/1.1\nHost : a\n\n"),
   raw("GET /hello HTTP/1.1\nHost: a\nX-A: a\n b\n\n"),
   raw("POST /echo HTTP/1.1\nHost: a\nContent-Length: 3\nTransfer-Encoding: chunked\n\n0\n\n"),
   raw("POST /echo HTTP/1.1\nHost: a\nContent-Length: 99999999\n\n"),
   raw("GET /hello HTTP/1.1\nHost: a\nX-Big: " .. string.rep("a", 9000) .. "\n\n"),
   }
end

local pause_ms = 0
local i = 0
statuses = {}

function init(args)
   pause_ms = tonumber(args[1] or "0")
   mix = build_mix()
   -- Threads start at different places in the rotation.
   i = math.random(#mix)
end

function request()
   i = i % #mix + 1
   return mix[i]
end

function delay()
   return pause_ms
end

function response(status)
   statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary)
   local all = {}
   for _, t in ipairs(threads) do
      for code, n in pairs(t:get("statuses")) do
         all[code] = (all[code] or 0) + n
      end
   end
   local codes = {}
   for code, n in pairs(all) do
      table.insert(codes, string.format("%d:%d", code, n))
   end
   table.sort(codes)
   local e = summary.errors
   io.write(string.format("SOAK requests=%d connect=%d read=%d write=%d timeout=%d statuses=%s\n",
                          summary.requests, e.connect, e.read, e.write, e.timeout,
                          table.concat(codes, ",")))
end
