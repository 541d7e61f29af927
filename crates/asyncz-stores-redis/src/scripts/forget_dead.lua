-- Deletes the nodes registered dead whose heartbeat is older than dead_for. ARGV: prefix,
-- dead_for (µs). Returns how many it deleted.
local dead_for = tonumber(ARGV[2])
local now = now_us()
local all = redis.call('HGETALL', K('nodes'))
local deleted = 0
for i = 1, #all - 1, 2 do
  local n = decode_node(all[i + 1])
  if n and n.state == 'dead' and now - (tonumber(n.hb) or 0) > dead_for then
    redis.call('HDEL', K('nodes'), all[i])
    deleted = deleted + 1
  end
end
return deleted
