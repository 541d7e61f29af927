-- Registers or refreshes a node. ARGV: prefix, node id, the node record (JSON). Returns the
-- state it had ('' when new) and the heartbeat written (µs).
local id = ARGV[2]
local old = redis.call('HGET', K('nodes'), id)
local previous = ''
if old then
  local n = decode_node(old)
  previous = n and n.state or ''
end
local n = decode_node(ARGV[3])
if not n then
  return redis.error_reply('ERR not a node record')
end
local now = int(now_us())
n.hb = now
n.state = 'alive'
redis.call('HSET', K('nodes'), id, cjson.encode(n))
return { previous, now }
