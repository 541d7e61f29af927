-- Prunes final run records. ARGV: prefix, created before (µs), keep per task, then task ids.
-- Per task, a final record is deleted when it was created before the bound or is not among
-- the task's `keep` newest records (by scheduled run time). Returns how many were deleted.
local older, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
local deleted = 0
for i = 4, #ARGV do
  local task = ARGV[i]
  local hkey = K('history:' .. task)
  local ids = redis.call('ZREVRANGE', hkey, 0, -1)
  for rank, id in ipairs(ids) do
    local raw = redis.call('HGET', K('runs'), id)
    if not raw then
      redis.call('ZREM', hkey, id)
      redis.call('ZREM', K('history'), id)
    else
      local r = decode_run(raw)
      if r and is_final(r.state) and (rank > keep or tonumber(r.created) < older) then
        redis.call('HDEL', K('runs'), id)
        redis.call('ZREM', hkey, id)
        redis.call('ZREM', K('history'), id)
        if redis.call('HGET', K('run_keys'), run_key(r)) == id then
          redis.call('HDEL', K('run_keys'), run_key(r))
        end
        deleted = deleted + 1
      end
    end
  end
  if redis.call('ZCARD', hkey) == 0 then
    redis.call('SREM', K('history_tasks'), task)
  end
end
return deleted
