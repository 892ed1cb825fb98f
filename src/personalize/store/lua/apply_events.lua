-- Apply a batch of one customer's events atomically, each at most once.
--
-- KEYS: every key the operations touch (the customer's hash-tagged keys, plus the
--       event stream and popularity sets: a single-Redis layout; see docs on Cluster).
-- ARGV[1]: msgpack {alias_key_index (0 = none), dedup_ttl_s, events, expires}
--   events[i]  = {dedup_key_index, fingerprint, ops}
--   expires[j] = {key_index, seconds}   (sliding TTLs, applied once at the end)
-- Returns {0, r1, r2, ...} with ri = 1 applied, 0 duplicate (same id, same content),
--         2 conflict (same id, different content); or {-1, target} when this visitor
--         has been merged into ``target`` and the caller must re-route the events.
local p = cmsgpack.unpack(ARGV[1])

if p[1] > 0 then
  local target = redis.call('GET', KEYS[p[1]])
  if target then return {-1, target} end
end

local function apply(ops)
  local last = 0
  local skip = 0
  for _, op in ipairs(ops) do
    if skip > 0 then
      skip = skip - 1
    else
      local c = op[1]
      if c == 'IFNEW' then
        if last ~= 1 then skip = op[3] end
      else
        local k = KEYS[op[2]]
        if c == 'HINCR' then
          redis.call('HINCRBY', k, op[3], op[4])
        elseif c == 'HINCRF' then
          redis.call('HINCRBYFLOAT', k, op[3], op[4])
        elseif c == 'HSET' then
          redis.call('HSET', k, op[3], op[4])
        elseif c == 'HSETNX' then
          last = redis.call('HSETNX', k, op[3], op[4])
        elseif c == 'SETNX' then
          last = redis.call('SETNX', k, op[3])
        elseif c == 'HMAX' then
          local v = redis.call('HGET', k, op[3])
          if (not v) or tonumber(v) < tonumber(op[4]) then redis.call('HSET', k, op[3], op[4]) end
        elseif c == 'HMIN' then
          local v = redis.call('HGET', k, op[3])
          if (not v) or tonumber(v) > tonumber(op[4]) then redis.call('HSET', k, op[3], op[4]) end
        elseif c == 'HLATEST' then
          -- set field=value only if this event is not older than the one that set it last
          local t = redis.call('HGET', k, op[5])
          if (not t) or tonumber(t) <= tonumber(op[6]) then
            redis.call('HSET', k, op[3], op[4], op[5], op[6])
          end
        elseif c == 'LPUSHT' then
          redis.call('LPUSH', k, op[3])
          redis.call('LTRIM', k, 0, op[4] - 1)
        elseif c == 'SADD' then
          redis.call('SADD', k, op[3])
        elseif c == 'ZINCR' then
          redis.call('ZINCRBY', k, op[4], op[3])
        elseif c == 'HDECRDEL' then
          if redis.call('HEXISTS', k, op[3]) == 1 then
            local q = redis.call('HINCRBY', k, op[3], -op[5])
            if q <= 0 then redis.call('HDEL', k, op[3], op[4]) end
          end
        elseif c == 'HDEL' then
          redis.call('HDEL', k, op[3])
        elseif c == 'XADD' then
          redis.call('XADD', k, 'MAXLEN', '~', op[3], '*', unpack(op, 4))
        else
          error('unknown op ' .. tostring(c))
        end
      end
    end
  end
end

local ttl = p[2]
local out = {0}
for i, ev in ipairs(p[3]) do
  local fresh = redis.call('SET', KEYS[ev[1]], ev[2], 'NX', 'EX', ttl)
  if fresh then
    apply(ev[3])
    out[i + 1] = 1
  elseif redis.call('GET', KEYS[ev[1]]) == ev[2] then
    out[i + 1] = 0
  else
    out[i + 1] = 2
  end
end
for _, e in ipairs(p[4]) do
  redis.call('EXPIRE', KEYS[e[1]], e[2])
end
return out
