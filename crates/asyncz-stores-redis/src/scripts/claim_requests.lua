-- Takes run requests. ARGV: prefix, node, limit. Returns the records taken (JSON, now
-- submitted and owned by the node), oldest request first.
local node, limit = ARGV[2], tonumber(ARGV[3])
local out = {}
while #out < limit do
  local ids = redis.call('ZRANGE', K('requested'), 0, limit - #out - 1)
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    -- Whatever the record, it leaves the queue: a request is taken once.
    redis.call('ZREM', K('requested'), id)
    local r = decode_run(redis.call('HGET', K('runs'), id))
    if r and r.state == 'requested' then
      r.state = 'submitted'
      r.node = node
      index_run(r)
      out[#out + 1] = write_run(r)
    end
  end
end
return out
