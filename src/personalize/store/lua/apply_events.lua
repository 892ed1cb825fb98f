-- Apply a batch of events for one or more customers atomically, each event at most once.
--
-- KEYS: every key the operations touch (customers' hash-tagged keys, plus the event
--       stream and popularity sets; see README "Redis Cluster" for the slot grouping).
-- ARGV[1]: msgpack {dedup_ttl_s, customers, expires}
--   customers[c] = {alias_key_index (0 = none), events}
--   events[i]    = {dedup_key_index, fingerprint, ops}
--   expires[j]   = {key_index, seconds}   (sliding TTLs, applied once at the end)
-- Returns one entry per customer: {0, r1, r2, ...} with ri = 1 applied, 0 duplicate
-- (same id, same content), 2 conflict (same id, different content); or {-1, target}
-- when that visitor has been merged into ``target`` (nothing applied for it).
--
-- Why accumulate: a redis.call costs ~1-3 us; summing a batch's increments per field
-- and pushing list entries in one LPUSH cuts the calls per event several-fold. Any
-- order-sensitive op (HSETNX, HDECRDEL, HLATEST, HDEL) first flushes its key.
local p = cmsgpack.unpack(ARGV[1])
local ttl = p[1]

local pending = {}   -- key index -> {incr=, incrf=, set=, max=, min=, push=, trim=, sadd=, zincr=}
local order = {}     -- key indexes with pending work, in first-touch order
local nx_known = {}  -- "keyidx\0field" -> true once an HSETNX has been tried in this call

local function acc(ki)
  local a = pending[ki]
  if not a then
    a = {}
    pending[ki] = a
    order[#order + 1] = ki
  end
  return a
end

local function fmt(x)
  return string.format('%.17g', x)
end

local function flush(ki)
  local a = pending[ki]
  if not a then return end
  pending[ki] = nil
  local k = KEYS[ki]
  if a.incr then for f, n in pairs(a.incr) do redis.call('HINCRBY', k, f, n) end end
  if a.incrf then for f, x in pairs(a.incrf) do redis.call('HINCRBYFLOAT', k, f, fmt(x)) end end
  if a.max or a.min then
    local fields, wanted = {}, {}
    if a.max then for f, v in pairs(a.max) do fields[#fields + 1] = f; wanted[#fields] = {v, 1} end end
    if a.min then for f, v in pairs(a.min) do fields[#fields + 1] = f; wanted[#fields] = {v, -1} end end
    local cur = redis.call('HMGET', k, unpack(fields))
    for i, f in ipairs(fields) do
      local c = cur[i] and tonumber(cur[i])
      local v, dir = wanted[i][1], wanted[i][2]
      if (not c) or (dir == 1 and v > c) or (dir == -1 and v < c) then
        a.set = a.set or {}
        a.set[f] = fmt(v)
      end
    end
  end
  if a.set then
    local args = {}
    for f, v in pairs(a.set) do args[#args + 1] = f; args[#args + 1] = v end
    redis.call('HSET', k, unpack(args))
  end
  if a.push then
    local n = redis.call('LPUSH', k, unpack(a.push))
    if n > a.trim then redis.call('LTRIM', k, 0, a.trim - 1) end
  end
  if a.sadd then redis.call('SADD', k, unpack(a.sadd)) end
  if a.zincr then for m, x in pairs(a.zincr) do redis.call('ZINCRBY', k, fmt(x), m) end end
end

local function apply(ops)
  local last = 0
  local skip = 0
  for _, op in ipairs(ops) do
    if skip > 0 then
      skip = skip - 1
    else
      local c, ki = op[1], op[2]
      if c == 'IFNEW' then
        if last ~= 1 then skip = op[3] end
      elseif c == 'HINCR' then
        local a = acc(ki); a.incr = a.incr or {}
        a.incr[op[3]] = (a.incr[op[3]] or 0) + op[4]
      elseif c == 'HINCRF' then
        local a = acc(ki); a.incrf = a.incrf or {}
        a.incrf[op[3]] = (a.incrf[op[3]] or 0) + tonumber(op[4])
      elseif c == 'HSET' then
        local a = acc(ki); a.set = a.set or {}
        a.set[op[3]] = op[4]
        if a.max then a.max[op[3]] = nil end
        if a.min then a.min[op[3]] = nil end
      elseif c == 'HMAX' then
        local a = acc(ki); a.max = a.max or {}
        local v = tonumber(op[4])
        if (not a.max[op[3]]) or v > a.max[op[3]] then a.max[op[3]] = v end
      elseif c == 'HMIN' then
        local a = acc(ki); a.min = a.min or {}
        local v = tonumber(op[4])
        if (not a.min[op[3]]) or v < a.min[op[3]] then a.min[op[3]] = v end
      elseif c == 'LPUSHT' then
        local a = acc(ki); a.push = a.push or {}
        a.push[#a.push + 1] = op[3]
        a.trim = op[4]
      elseif c == 'SADD' then
        local a = acc(ki); a.sadd = a.sadd or {}
        a.sadd[#a.sadd + 1] = op[3]
      elseif c == 'ZINCR' then
        local a = acc(ki); a.zincr = a.zincr or {}
        a.zincr[op[3]] = (a.zincr[op[3]] or 0) + tonumber(op[4])
      elseif c == 'XADD' then
        redis.call('XADD', KEYS[ki], 'MAXLEN', '~', op[3], '*', unpack(op, 4))
      elseif c == 'HSETNX' then
        local id = ki .. '\0' .. op[3]
        if nx_known[id] then
          last = 0
        else
          flush(ki)
          last = redis.call('HSETNX', KEYS[ki], op[3], op[4])
          nx_known[id] = true
        end
      elseif c == 'SETNX' then
        last = redis.call('SETNX', KEYS[ki], op[3])
      elseif c == 'HLATEST' then
        -- set field=value only if this event is not older than the one that set it last
        flush(ki)
        local t = redis.call('HGET', KEYS[ki], op[5])
        if (not t) or tonumber(t) <= tonumber(op[6]) then
          redis.call('HSET', KEYS[ki], op[3], op[4], op[5], op[6])
        end
      elseif c == 'HDECRDEL' then
        flush(ki)
        local k = KEYS[ki]
        if redis.call('HEXISTS', k, op[3]) == 1 then
          local q = redis.call('HINCRBY', k, op[3], -op[5])
          if q <= 0 then redis.call('HDEL', k, op[3], op[4]) end
        end
      elseif c == 'HDEL' then
        flush(ki)
        redis.call('HDEL', KEYS[ki], op[3])
      else
        error('unknown op ' .. tostring(c))
      end
    end
  end
end

local out = {}
for ci, customer in ipairs(p[2]) do
  local target = false
  if customer[1] > 0 then target = redis.call('GET', KEYS[customer[1]]) end
  if target then
    out[ci] = {-1, target}
  else
    local res = {0}
    for i, ev in ipairs(customer[2]) do
      if redis.call('SET', KEYS[ev[1]], ev[2], 'NX', 'EX', ttl) then
        apply(ev[3])
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
for _, ki in ipairs(order) do flush(ki) end
for _, e in ipairs(p[3]) do
  redis.call('EXPIRE', KEYS[e[1]], e[2])
end
return out
