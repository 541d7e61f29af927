-- Marks dead every alive node whose heartbeat is older than the timeout. ARGV: prefix,
-- timeout (µs). Returns the records this call marked (JSON).
local timeout = tonumber(ARGV[2])
local now = now_us()
local all = redis.call('HGETALL', K('nodes'))
local out = {}
for i = 1, #all - 1, 2 do
  local n = decode_node(all[i + 1])
  if n and n.state == 'alive' and now - (tonumber(n.hb) or 0) > timeout then
    n.state = 'dead'
    local json = cjson.encode(n)
    redis.call('HSET', K('nodes'), all[i], json)
    out[#out + 1] = json
  end
end
return out
