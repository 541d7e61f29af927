-- Marks a node dead as it leaves. ARGV: prefix, node id. Returns 1 when it was registered.
local raw = redis.call('HGET', K('nodes'), ARGV[2])
local n = decode_node(raw)
if not n then
  return 0
end
n.state = 'dead'
redis.call('HSET', K('nodes'), ARGV[2], cjson.encode(n))
return 1
