-- wrk script for make bench (scripts/bench/bench.py): every request is an os-extend of a
-- volume of its own, so that each one does the real work (transition, reservation, confirmed
-- publish). Arguments after "--": the file of "<project> <volume id>" lines, the number of
-- wrk threads, and optionally a rate in requests per second for the whole run; thread t takes
-- lines t, t + threads, ... When a thread runs out of volumes it repeats its last one, which
-- answers 400 and shows as status errors in the summary.
--
-- Without a rate, each connection sends its next request as soon as the answer arrives (the
-- peak). With one, each thread follows a fixed schedule of rate / threads requests per second
-- and a connection waits for its slot: the schedule never slips, so an answer that comes late
-- makes the following requests go out at once rather than silently lowering the rate (the
-- latency measured is then the service's, not the load generator's back-off).
-- done() prints one JSON line: counts and latency percentiles in microseconds.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

function init(args)
   local nthreads = tonumber(args[2])
   local k = 0
   vols = {}
   for line in io.lines(args[1]) do
      if k % nthreads == tid then
         vols[#vols + 1] = line
      end
      k = k + 1
   end
   taken = 0
   if args[3] then
      interval = 1000 * nthreads / tonumber(args[3])
   end
end

function delay()
   if not interval then
      return 0
   end
   -- The schedule starts when the thread's first connection is ready to send, not at init:
   -- started earlier, the time wrk takes to set its connections up would be made up by a
   -- burst at the peak rate, measured as the latency of the fixed rate.
   if not next_slot then
      next_slot = now_ms()
   end
   local wait = next_slot - now_ms()
   next_slot = next_slot + interval
   if wait < 0 then
      return 0
   end
   return math.floor(wait)
end

function request()
   if taken < #vols then
      taken = taken + 1
   end
   local project, vid = vols[taken]:match("(%S+) (%S+)")
   return wrk.format("POST", "/v3/" .. project .. "/volumes/" .. vid .. "/action",
                     { ["X-Auth-Token"] = "bench:" .. project,
                       ["Content-Type"] = "application/json",
                       ["Accept"] = "application/json" },
                     '{"os-extend": {"new_size": 2}}')
end

-- The first refusal of each thread goes to stderr, so that a failed run says why.
function response(status, headers, body)
   if status >= 400 and not refused then
      refused = true
      io.stderr:write(string.format("wrk thread %d: %d %s\n", tid, status, body))
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format('{"requests": %d, "duration_us": %d, "status_errors": %d, ' ..
                          '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
                          summary.requests, summary.duration, e.status,
                          e.connect + e.read + e.write + e.timeout,
                          latency:percentile(50), latency:percentile(99), latency.max))
end
