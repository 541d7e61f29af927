-- Reads run records, newest scheduled run time first. ARGV: prefix, '1' with a task id or
-- '0', the task id, the highest score ('+inf' or '(<µs>'), limit, then the states to keep
-- (none: any). Returns the records (JSON).
local key = K('history')
if ARGV[2] == '1' then
  key = K('history:' .. ARGV[3])
end
local max, limit = ARGV[4], tonumber(ARGV[5])
local states = nil
for i = 6, #ARGV do
  states = states or {}
  states[ARGV[i]] = true
end
local out = {}
local offset = 0
local page = math.min(math.max(limit, 100), 1000)
while #out < limit do
  local ids = redis.call('ZREVRANGEBYSCORE', key, max, '-inf', 'LIMIT', offset, page)
  if #ids == 0 then
    break
  end
  offset = offset + #ids
  local raws = redis.call('HMGET', K('runs'), unpack(ids))
  for i = 1, #ids do
    local raw = raws[i]
    if raw and #out < limit then
      if states then
        local r = decode_run(raw)
        if r and states[r.state] then
          out[#out + 1] = raw
        end
      else
        out[#out + 1] = raw
      end
    end
  end
end
return out
