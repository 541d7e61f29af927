-- Records a run's final state. ARGV: prefix, run id, node, attempt, final state, finished at
-- (µs), '1' with an error text or '0', the error text. Returns 1 when written (the record
-- was submitted or running, owned by node, at attempt), else 0.
local raw = redis.call('HGET', K('runs'), ARGV[2])
if not raw then
  return 0
end
local r = decode_run(raw)
if not r then
  return redis.error_reply('ERR run record ' .. ARGV[2] .. ' cannot be decoded')
end
if not is_active(r.state) or r.node ~= ARGV[3] or r.attempt ~= tonumber(ARGV[4]) then
  return 0
end
unindex_run(r)
r.state = ARGV[5]
r.finished = ARGV[6]
if ARGV[7] == '1' then
  r.error = ARGV[8]
else
  r.error = cjson.null
end
index_run(r)
write_run(r)
return 1
