-- Shared by every cluster script (prepended at compile time). ARGV[1] is the store's cluster
-- key prefix; every cluster key is that prefix and a name, so two stores with different
-- prefixes never see each other's keys.
--
-- Times are whole microseconds since the Unix epoch, kept as decimal strings (exact) and
-- compared as Lua numbers (exact up to 2^53 µs, about the year 2255).
local NS = ARGV[1]

local function K(name)
  return NS .. name
end

-- A Lua number as a decimal integer string (tostring would switch to exponents past 1e14).
local function int(n)
  return string.format('%.0f', n)
end

-- The store's clock: Redis TIME, in microseconds.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- A claim is stored as "<fence>:<claimed until, µs>:<node>": fence (string), until (number),
-- node; nil for no claim or a malformed one (which then holds nothing).
local function parse_claim(v)
  if not v then
    return nil
  end
  local fence, until_us, node = string.match(v, '^(%d+):(%-?%d+):(.*)$')
  if not fence then
    return nil
  end
  return fence, tonumber(until_us), node
end

local function present(v)
  return v ~= nil and v ~= cjson.null
end

local function is_active(state)
  return state == 'submitted' or state == 'running'
end

local function is_final(state)
  return state ~= 'requested' and not is_active(state)
end

-- A decoded run record, or nil when it is not one (never raises: bad data is skipped).
local function decode_run(raw)
  if not raw then
    return nil
  end
  local ok, r = pcall(cjson.decode, raw)
  if not ok or type(r) ~= 'table' or type(r.id) ~= 'string' or type(r.task) ~= 'string'
      or type(r.state) ~= 'string' then
    return nil
  end
  return r
end

-- Takes a run out of the indexes of its current state (before its state changes).
local function unindex_run(r)
  if r.state == 'requested' then
    redis.call('ZREM', K('requested'), r.id)
  elseif is_active(r.state) then
    redis.call('SREM', K('active:' .. r.task), r.id)
    if present(r.node) then
      redis.call('SREM', K('node_runs:' .. r.node), r.id)
    end
  end
end

-- Puts a run in the indexes of its state: requested runs by request time, active runs per
-- task (for max_active) and per node (for settling a dead node's runs).
local function index_run(r)
  if r.state == 'requested' then
    redis.call('ZADD', K('requested'), r.created, r.id)
  elseif is_active(r.state) then
    redis.call('SADD', K('active:' .. r.task), r.id)
    if present(r.node) then
      redis.call('SADD', K('node_runs:' .. r.node), r.id)
    end
  end
end

-- Stores a run record (`json` when given, else `r` encoded); returns the stored text.
local function write_run(r, json)
  json = json or cjson.encode(r)
  redis.call('HSET', K('runs'), r.id, json)
  return json
end

-- The ledger key of a run: unique per (task, scheduled run time).
local function run_key(r)
  return r.sched .. '|' .. r.task
end

-- Whether a run with this id or this (task, scheduled run time) is already in the ledger.
local function run_exists(r)
  return redis.call('HEXISTS', K('run_keys'), run_key(r)) == 1
    or redis.call('HEXISTS', K('runs'), r.id) == 1
end

-- Inserts a new run record with its key, its history entries and its state's indexes.
local function insert_run(r, json)
  redis.call('HSET', K('run_keys'), run_key(r), r.id)
  redis.call('ZADD', K('history'), r.sched, r.id)
  redis.call('ZADD', K('history:' .. r.task), r.sched, r.id)
  redis.call('SADD', K('history_tasks'), r.task)
  index_run(r)
  return write_run(r, json)
end

-- A decoded node record, or nil.
local function decode_node(raw)
  if not raw then
    return nil
  end
  local ok, n = pcall(cjson.decode, raw)
  if not ok or type(n) ~= 'table' or type(n.state) ~= 'string' then
    return nil
  end
  return n
end

