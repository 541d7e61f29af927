-- Inserts a run record. ARGV: prefix, the record (JSON). Returns 1 when inserted, 0 when its
-- (task, scheduled run time) is already in the ledger, -1 when its run id is.
local r = decode_run(ARGV[2])
if not r then
  return redis.error_reply('ERR not a run record')
end
if redis.call('HEXISTS', K('run_keys'), run_key(r)) == 1 then
  return 0
end
if redis.call('HEXISTS', K('runs'), r.id) == 1 then
  return -1
end
insert_run(r, ARGV[2])
return 1
