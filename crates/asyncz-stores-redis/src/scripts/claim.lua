-- Claims due tasks. KEYS: tasks hash, run times sorted set. ARGV: prefix, node, due (µs,
-- the node's now), lease (µs), limit, then ids never to claim (undecodable records).
-- Returns id, fence, record bytes for each claimed task, oldest next run time first.
local node, due, lease, limit = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local skip = {}
for i = 6, #ARGV do
  skip[ARGV[i]] = true
end
local now = now_us()
local claimed_until = int(now + lease)
local out = {}
local n = 0
local offset = 0
local page = math.max(limit * 2, 64)
while n < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', due, 'LIMIT', offset, page)
  if #ids == 0 then
    break
  end
  offset = offset + #ids
  for _, id in ipairs(ids) do
    if n >= limit then
      break
    end
    if not skip[id] then
      local fence, held_until = parse_claim(redis.call('HGET', K('claims'), id))
      if not fence or held_until <= now then
        local bytes = redis.call('HGET', KEYS[1], id)
        if bytes then
          local new_fence = int(redis.call('INCR', K('fence')))
          redis.call('HSET', K('claims'), id, new_fence .. ':' .. claimed_until .. ':' .. node)
          out[#out + 1] = id
          out[#out + 1] = new_fence
          out[#out + 1] = bytes
          n = n + 1
        end
      end
    end
  end
end
return out
