-- Gives claims back. ARGV: prefix, node, then (task id, fence) pairs. Returns how many were
-- released (claims still this node's at this fence).
local node = ARGV[2]
local released = 0
for i = 3, #ARGV - 1, 2 do
  local id, fence = ARGV[i], ARGV[i + 1]
  local held_fence, _, held_by = parse_claim(redis.call('HGET', K('claims'), id))
  if held_fence == fence and held_by == node then
    redis.call('HDEL', K('claims'), id)
    released = released + 1
  end
end
return released
