-- wrk script: send DEPTH requests in one write and count each of the DEPTH responses.
-- Why: the 1 KiB pipelined scenario measures how a server answers many requests that arrive in one read
-- (wrk's own scripts/pipeline.lua pattern). Usage: wrk -s pipeline.lua URL -- [DEPTH], DEPTH defaults to 16.

init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, wrk.path)
   end
   req = table.concat(r)
end

request = function()
   return req
end
