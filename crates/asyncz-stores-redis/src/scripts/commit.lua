-- Commits fires. KEYS: tasks hash, run times sorted set. ARGV: prefix, node, fire count,
-- then per fire: task id, fence, 'r' (reschedule) or 'd' (delete), record bytes, run time
-- score ('' when paused), max_active ('' for none: else at most this many fires of the task
-- active, and the runs of one beyond it stored skipped), the error of such a skipped run,
-- run count, then that many run records (JSON).
-- Returns per fire: '-1' (stale: nothing written), or the count of runs inserted followed
-- by each inserted record as stored.
local node = ARGV[2]
local fires = {}
local at = 4
-- Read everything first: a malformed argument fails the call before anything is written.
for _ = 1, tonumber(ARGV[3]) do
  local fire = {
    task = ARGV[at], fence = ARGV[at + 1], op = ARGV[at + 2], bytes = ARGV[at + 3],
    score = ARGV[at + 4], max_active = ARGV[at + 5], limit_error = ARGV[at + 6], runs = {},
  }
  local count = tonumber(ARGV[at + 7])
  at = at + 8
  for j = 1, count do
    local json = ARGV[at]
    local r = decode_run(json)
    if not r then
      return redis.error_reply('ERR fire of task ' .. fire.task .. ': run ' .. j .. ' is not a run record')
    end
    fire.runs[j] = { r = r, json = json }
    at = at + 1
  end
  fires[#fires + 1] = fire
end

local out = {}
for _, fire in ipairs(fires) do
  local fence, _, held_by = parse_claim(redis.call('HGET', K('claims'), fire.task))
  if fence ~= fire.fence or held_by ~= node then
    out[#out + 1] = '-1'
  else
    if fire.op == 'r' then
      redis.call('HSET', KEYS[1], fire.task, fire.bytes)
      if fire.score == '' then
        redis.call('ZREM', KEYS[2], fire.task)
      else
        redis.call('ZADD', KEYS[2], fire.score, fire.task)
      end
    else
      redis.call('HDEL', KEYS[1], fire.task)
      redis.call('ZREM', KEYS[2], fire.task)
    end
    redis.call('HDEL', K('claims'), fire.task)
    local stored = {}
    -- With max_active, the fire is one instance of the task: its active instances are the
    -- distinct fences of its submitted and running records (one fire's runs share theirs),
    -- counted before this fire's runs are inserted.
    local max_active = tonumber(fire.max_active)
    local over = false
    if max_active then
      local fences, instances = {}, 0
      for _, id in ipairs(redis.call('SMEMBERS', K('active:' .. fire.task))) do
        local active = decode_run(redis.call('HGET', K('runs'), id))
        if active and is_active(active.state) then
          local f = tostring(active.fence)
          if not fences[f] then
            fences[f] = true
            instances = instances + 1
          end
        end
      end
      over = instances >= max_active
    end
    for _, run in ipairs(fire.runs) do
      local r, json = run.r, run.json
      if not run_exists(r) then
        if r.state == 'submitted' and over then
          r.state = 'skipped'
          r.error = fire.limit_error
          r.finished = r.created
          json = nil
        end
        stored[#stored + 1] = insert_run(r, json)
      end
    end
    out[#out + 1] = tostring(#stored)
    for _, json in ipairs(stored) do
      out[#out + 1] = json
    end
  end
end
return out
