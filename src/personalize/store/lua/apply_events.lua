-- Apply a batch of events for one or more customers atomically, each event at most once.
--
-- KEYS: every key the operations touch (customers' hash-tagged keys and the event stream;
--       see README "Redis Cluster" for grouping by slot).
-- ARGV[1]: msgpack {dedup_ttl_s, customers, expires, prefetch, stream_key_index, stream_maxlen}
--   customers[c] = {alias_key_index (0 = none), events}
--   events[i]    = {dedup_key_index, fingerprint, ops, first, last}
--   expires[j]   = {key_index, seconds}      sliding TTLs, applied once at the end
--   prefetch[j]  = {key_index, field, ...}   every hash field the ops may touch
-- ARGV[2]: the stream entry for all events, "[" piece "," piece ... "]" (store/event_log.py);
--   ARGV[2]:sub(first, last) is one event's piece. The applied events are appended as ONE
--   entry: ARGV[2] itself when all were applied, else the applied pieces joined the same way.
-- Returns one entry per customer: {0, r1, r2, ...} with ri = 1 applied, 0 duplicate
-- (same id, same content), 2 conflict (same id, different content); or {-1, target}
-- when that visitor has been merged into ``target`` (nothing applied for it).
--
-- Why a cache: a redis.call costs a few microseconds of script overhead, more than most
-- commands themselves. Each hash is read once (HMGET of the prefetched fields), every
-- operation runs on the in-script copy, and each hash is written back once (HSET/HDEL),
-- so an event costs ~6 calls instead of ~17. Lists are pushed once per key.
local p = cmsgpack.unpack(ARGV[1])
local ttl = p[1]

local cache = {}   -- key index -> {field -> value (number or string) | false}
local dirty = {}   -- key index -> {field -> true}
local deleted = {} -- key index -> {field -> true}
local pushes = {}  -- key index -> {values...}
local trims = {}   -- key index -> max length
local adds = {}    -- key index -> {members...}
local order = {}   -- key indexes with pending writes, in first-touch order
local touched = {}

for _, pf in ipairs(p[4]) do
  local ki = pf[1]
  local fields = {}
  for i = 2, #pf do fields[#fields + 1] = pf[i] end
  local values = redis.call('HMGET', KEYS[ki], unpack(fields))
  local c = {}
  for i, f in ipairs(fields) do c[f] = values[i] end
  cache[ki] = c
end

local function touch(ki)
  if not touched[ki] then touched[ki] = true; order[#order + 1] = ki end
end

local function put(ki, f, v)
  cache[ki][f] = v
  local d = dirty[ki]
  if not d then d = {}; dirty[ki] = d; touch(ki) end
  d[f] = true
  local x = deleted[ki]
  if x then x[f] = nil end
end

local function del(ki, f)
  cache[ki][f] = false
  local d = deleted[ki]
  if not d then d = {}; deleted[ki] = d; touch(ki) end
  d[f] = true
  local x = dirty[ki]
  if x then x[f] = nil end
end

local function num(v)
  if not v then return nil end
  return tonumber(v)
end

local function apply(ops)
  local last = 0
  local skip = 0
  for _, op in ipairs(ops) do
    if skip > 0 then
      skip = skip - 1
    else
      local c, ki = op[1], op[2]
      if c == 'TOUCH' then
        -- {TOUCH, profile, session (0 = none), counter field ("n:<type>"), ts, session_id}
        local pk, sk, counter, ts = ki, op[3], op[4], op[5]
        local pc = cache[pk]
        if (not num(pc.first_ts)) or ts < num(pc.first_ts) then put(pk, 'first_ts', ts) end
        if (not num(pc.last_ts)) or ts > num(pc.last_ts) then put(pk, 'last_ts', ts) end
        put(pk, counter, (num(pc[counter]) or 0) + 1)
        if sk > 0 then
          local sc = cache[sk]
          if not sc.first_ts then
            put(sk, 'first_ts', ts)
            put(pk, 'sessions', (num(pc.sessions) or 0) + 1)
            put(pk, 'last_session', op[6])
          end
          if ts > (num(sc.last_ts) or 0) then put(sk, 'last_ts', ts) end
          put(sk, counter, (num(sc[counter]) or 0) + 1)
        end
      elseif c == 'IFNEW' then
        if last ~= 1 then skip = op[3] end
      elseif c == 'HINCR' or c == 'HINCRF' then
        put(ki, op[3], (num(cache[ki][op[3]]) or 0) + tonumber(op[4]))
      elseif c == 'HSET' then
        put(ki, op[3], op[4])
      elseif c == 'HSETNX' then
        if cache[ki][op[3]] then last = 0 else put(ki, op[3], op[4]); last = 1 end
      elseif c == 'HMAX' then
        local cur, v = num(cache[ki][op[3]]), tonumber(op[4])
        if (not cur) or v > cur then put(ki, op[3], v) end
      elseif c == 'HMIN' then
        local cur, v = num(cache[ki][op[3]]), tonumber(op[4])
        if (not cur) or v < cur then put(ki, op[3], v) end
      elseif c == 'HLATEST' then
        -- set field=value only if this event is not older than the one that set it last
        local t = num(cache[ki][op[5]])
        if (not t) or t <= tonumber(op[6]) then put(ki, op[3], op[4]); put(ki, op[5], tonumber(op[6])) end
      elseif c == 'HDECRDEL' then
        local q = num(cache[ki][op[3]])
        if q then
          q = q - op[5]
          if q <= 0 then del(ki, op[3]); del(ki, op[4]) else put(ki, op[3], q) end
        end
      elseif c == 'HDEL' then
        del(ki, op[3])
      elseif c == 'LPUSHT' then
        local l = pushes[ki]
        if not l then l = {}; pushes[ki] = l; touch(ki) end
        l[#l + 1] = op[3]
        trims[ki] = op[4]
      elseif c == 'SADD' then
        local s = adds[ki]
        if not s then s = {}; adds[ki] = s; touch(ki) end
        s[#s + 1] = op[3]
      elseif c == 'SETNX' then
        last = redis.call('SETNX', KEYS[ki], op[3])
      else
        error('unknown op ' .. tostring(c))
      end
    end
  end
end

-- Visitors already merged into a user: one MGET for every alias key of the batch.
local alias_keys, alias_of = {}, {}
for ci, customer in ipairs(p[2]) do
  if customer[1] > 0 then
    alias_keys[#alias_keys + 1] = KEYS[customer[1]]
    alias_of[ci] = #alias_keys
  end
end
local targets = {}
if #alias_keys > 0 then targets = redis.call('MGET', unpack(alias_keys)) end

local out = {}
local logged = {}  -- {first, last} of each applied event's piece in ARGV[2]
local total = 0
for ci, customer in ipairs(p[2]) do
  total = total + #customer[2]
  local target = alias_of[ci] and targets[alias_of[ci]]
  if target then
    out[ci] = {-1, target}
  else
    local res = {0}
    for i, ev in ipairs(customer[2]) do
      if redis.call('SET', KEYS[ev[1]], ev[2], 'NX', 'EX', ttl) then
        apply(ev[3])
        logged[#logged + 1] = ev
        res[i + 1] = 1
      elseif redis.call('GET', KEYS[ev[1]]) == ev[2] then
        res[i + 1] = 0
      else
        res[i + 1] = 2
      end
    end
    out[ci] = res
  end
end

-- Numbers are passed to HSET as Lua numbers: Redis formats them exactly (%.17g in 6.2,
-- shortest round-trip in 7), cheaper than string.format here.
for _, ki in ipairs(order) do
  local k = KEYS[ki]
  if dirty[ki] then
    local args = {}
    for f in pairs(dirty[ki]) do args[#args + 1] = f; args[#args + 1] = cache[ki][f] end
    if #args > 0 then redis.call('HSET', k, unpack(args)) end
  end
  if deleted[ki] then
    local fields = {}
    for f in pairs(deleted[ki]) do fields[#fields + 1] = f end
    if #fields > 0 then redis.call('HDEL', k, unpack(fields)) end
  end
  if pushes[ki] then
    local n = redis.call('LPUSH', k, unpack(pushes[ki]))
    if n > trims[ki] + 16 then redis.call('LTRIM', k, 0, trims[ki] - 1) end
  end
  if adds[ki] then redis.call('SADD', k, unpack(adds[ki])) end
end
for _, e in ipairs(p[3]) do
  redis.call('EXPIRE', KEYS[e[1]], e[2])
end
if #logged > 0 then
  local entry = ARGV[2]
  if #logged < total then
    local parts = {}
    for i, ev in ipairs(logged) do parts[i] = string.sub(entry, ev[4], ev[5]) end
    entry = '[' .. table.concat(parts, ',') .. ']'
  end
  redis.call('XADD', KEYS[p[5]], 'MAXLEN', '~', p[6], '*', 'b', entry)
end
return out
