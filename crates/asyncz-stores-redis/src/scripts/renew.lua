-- Extends claims. ARGV: prefix, node, lease (µs), then (task id, fence) pairs. Returns the
-- ids whose claim is still this node's at this fence, now extended.
local node, lease = ARGV[2], tonumber(ARGV[3])
local claimed_until = int(now_us() + lease)
local out = {}
for i = 4, #ARGV - 1, 2 do
  local id, fence = ARGV[i], ARGV[i + 1]
  local held_fence, _, held_by = parse_claim(redis.call('HGET', K('claims'), id))
  if held_fence == fence and held_by == node then
    redis.call('HSET', K('claims'), id, fence .. ':' .. claimed_until .. ':' .. node)
    out[#out + 1] = id
  end
end
return out
