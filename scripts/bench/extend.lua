-- wrk script for make bench (scripts/bench/bench.py): every request is an os-extend of a
-- volume of its own, so that each one does the real work (transition, reservation, confirmed
-- publish). Arguments after "--": the file of "<project> <volume id>" lines and the number of
-- wrk threads; thread t takes lines t, t + threads, ... When a thread runs out of volumes it
-- repeats its last one, which answers 400 and shows as status errors in the summary.
-- done() prints one JSON line: counts and latency percentiles in microseconds.

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

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format('{"requests": %d, "duration_us": %d, "status_errors": %d, ' ..
                          '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
                          summary.requests, summary.duration, e.status,
                          e.connect + e.read + e.write + e.timeout,
                          latency:percentile(50), latency:percentile(99), latency.max))
end
