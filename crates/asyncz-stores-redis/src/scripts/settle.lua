-- Settles a dead node's active runs. ARGV: prefix, node, now (µs), the error of an abandoned
-- run. Returns the records as written (JSON).
local node, now, abandoned_error = ARGV[2], ARGV[3], ARGV[4]
local key = K('node_runs:' .. node)
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', key)) do
  local r = decode_run(redis.call('HGET', K('runs'), id))
  if r and is_active(r.state) and r.node == node then
    unindex_run(r)
    if r.on_death == 'rerun' then
      r.state = 'requested'
      r.node = cjson.null
      r.attempt = r.attempt + 1
      r.started = cjson.null
      r.finished = cjson.null
      r.error = cjson.null
    else
      r.state = 'abandoned'
      r.finished = now
      r.error = abandoned_error
    end
    index_run(r)
    out[#out + 1] = write_run(r)
  end
  redis.call('SREM', key, id)
end
return out
