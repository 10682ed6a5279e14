-- wrk script: every request asks for a new, uniformly random file of the large-site fixture.
-- Why: the large-site scenarios measure a working set far bigger than a small hot cache (20,000 files in
-- 200 folders, written by large_site.py), so each request must pick its path afresh, over the whole tree.
-- Usage: wrk -s random_paths.lua URL -- [PREFIX] [DIRS] [FILES] [SEED]
--   paths are PREFIX .. "dNNN/fNNN.html"; defaults: PREFIX "/", DIRS 200, FILES 100, SEED 13.
-- Headers given to wrk with -H (Accept-Encoding for the .gz scenario) go into every request.
-- The path list is the same on every run; each thread seeds its generator with SEED + its number, so threads
-- differ from each other while a run is repeatable (every server is sent the same sequence of paths).

local threads = 0

setup = function(thread)
   threads = threads + 1
   thread:set("id", threads)
end

init = function(args)
   local prefix = args[1]
   if prefix == nil or prefix == "" then
      prefix = "/"
   end
   local dirs = tonumber(args[2]) or 200
   local files = tonumber(args[3]) or 100
   local seed = tonumber(args[4]) or 13
   -- Formatted once here, so a request costs one random number and a table index, not a string build.
   reqs = {}
   for d = 0, dirs - 1 do
      for f = 0, files - 1 do
         reqs[#reqs + 1] = wrk.format(nil, string.format("%sd%03d/f%03d.html", prefix, d, f))
      end
   end
   count = #reqs
   math.randomseed(seed + (id or 1))
end

request = function()
   return reqs[math.random(count)]
end
