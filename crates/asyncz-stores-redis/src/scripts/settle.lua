-- Settles a node's active runs (see SettleReason). ARGV: prefix, node, now (µs), reason
-- ('dead', 'leaving' or 'restarted'), the error of an abandoned submitted run, that of an
-- abandoned running run. Returns the records as written (JSON). For 'dead', nothing is
-- settled while the node is registered alive (it heartbeated again).
local node, now, reason = ARGV[2], ARGV[3], ARGV[4]
local errors = { submitted = ARGV[5], running = ARGV[6] }
if reason == 'dead' then
  local n = decode_node(redis.call('HGET', K('nodes'), node))
  if n and n.state == 'alive' then
    return {}
  end
end
local key = K('node_runs:' .. node)
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', key)) do
  local r = decode_run(redis.call('HGET', K('runs'), id))
  if r and is_active(r.state) and r.node == node then
    unindex_run(r)
    local rerun = r.on_death == 'rerun' and not (reason == 'leaving' and r.state == 'running')
    if rerun then
      r.state = 'requested'
      r.node = cjson.null
      r.attempt = r.attempt + 1
      r.started = cjson.null
      r.finished = cjson.null
      r.error = cjson.null
    else
      r.error = errors[r.state]
      r.state = 'abandoned'
      r.finished = now
    end
    index_run(r)
    out[#out + 1] = write_run(r)
  end
  redis.call('SREM', key, id)
end
return out
