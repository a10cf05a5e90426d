-- wrk script for tests/soak/run.py: three requests in one write on every call (a GET, a POST
-- /echo with a body and a /gather), so wrk keeps three answers in flight per connection; the
-- server must answer them in order. Arguments after "--": the pause in ms before each write.
local pipeline
local pause_ms = 0

function init(args)
   pause_ms = tonumber(args[1] or "0")
   pipeline = wrk.format("GET", "/hello") ..
              wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, "pipelined body") ..
              wrk.format("GET", "/gather?ms=1,2")
end

function request()
   return pipeline
end

function delay()
   return pause_ms
end

function done(summary)
   local e = summary.errors
   io.write(string.format("SOAK requests=%d connect=%d read=%d write=%d timeout=%d statuses=\n",
                          summary.requests, e.connect, e.read, e.write, e.timeout))
end
