-- Marks a run running. ARGV: prefix, run id, node, attempt, started at (µs). Returns 1 when
-- written (the record was submitted, or already running, owned by node at attempt: a retried
-- start keeps the first start time), else 0.
local raw = redis.call('HGET', K('runs'), ARGV[2])
if not raw then
  return 0
end
local r = decode_run(raw)
if not r then
  return redis.error_reply('ERR run record ' .. ARGV[2] .. ' cannot be decoded')
end
if (r.state ~= 'submitted' and r.state ~= 'running') or r.node ~= ARGV[3] or r.attempt ~= tonumber(ARGV[4]) then
  return 0
end
if r.state ~= 'running' then
  r.state = 'running'
  r.started = ARGV[5]
end
write_run(r)
return 1
