-- Apply a batch of events for one or more customers atomically, each event at most once.
--
-- KEYS[1]: the event stream; KEYS[2 .. 1+B]: the dedup buckets, newest first (hashes
--   "<customer> <event_id>" -> fingerprint, one per time window; see store/keys.py);
--   then every per-customer key the operations touch (hash-tagged; README "Redis Cluster").
-- ARGV[1]: one flat msgpack array of scalars (a token stream: nested tables cost ~4x more
--   to unpack here), read front to back by the cursor ``i``:
--     now (string), stream_maxlen, B, bucket_ttl (s), session_ttl, session_slack,
--     anonymous_ttl (s, 0 = never), anonymous_refresh (s)
--     P, then P prefetch records: key, nfields, field...     (every hash field the ops read)
--     S, then S session keys                                 (logical TTL, see below)
--     X, then X expire records: key, seconds                 (carts: refreshed per batch)
--     A, then A alias records: customer number, alias key, profile key
--                                                            (anonymous visitors: may be merged, expire)
--     R, then R retained keys: an anonymous visitor's keys that expire with its profile
--     E, then E dedup fields, E fingerprints, E (first, last) stream-entry offsets
--     C, then C customer records: n_events, then per event: n_ops, then the ops,
--        each an opcode and a fixed number of arguments (ARITY)
--   (keys are KEYS indexes; numbers are numbers; ops are store/event_writer.py's codes)
-- ARGV[2]: the stream entry for all events, "[" piece "," piece ... "]" (store/event_log.py);
--   ARGV[2]:sub(first, last) is one event's piece. The applied events are appended as ONE
--   entry: ARGV[2] itself when all were applied, else the applied pieces joined the same way.
-- Anonymous visitors expire: their profile's TTL is set to anonymous_ttl when it was last
-- set more than anonymous_refresh ago (field ``xttl``), not per event; a retained key (its
-- purchases, orders) gets it whenever it is written. Identified customers never expire.
-- Returns one entry per customer: {0, r1, r2, ...} with ri = 1 applied, 0 duplicate
-- (same id, same content), 2 conflict (same id, different content); or {-1, target}
-- when that visitor has been merged into ``target`` (nothing applied for it).
--
-- Why a cache: a redis.call costs a few microseconds of script overhead, more than most
-- commands themselves. Each hash is read once (HMGET of the prefetched fields), every
-- operation runs on the in-script copy, and each hash is written back once (HSET/HDEL).
--
-- Sessions expire logically: a session whose ``seen_at`` (server clock of its last event)
-- is older than session_ttl is gone (reset here, ignored by readers), exactly like a
-- sliding Redis TTL; the key's real TTL (ttl + slack) only reclaims memory, and is
-- refreshed when it was last set more than ``slack`` ago, not on every event.
-- A session's recent items live in its own hash as a ring: ``ic`` items pushed so far,
-- ``icap`` slots (fixed when the ring starts), item k in field "i<k % icap>"
-- (store/sessions.py reads it back): one key per session, no list to push and expire
-- besides the hash it writes anyway. A customer's item history is the same kind of ring
-- in the profile hash (``hc``, ``hcap``, "h<k>"): a list per customer cost an LPUSH per
-- customer and batch, ~4 us of Redis CPU per event of an interleaved log.
local t = cmsgpack.unpack(ARGV[1])
-- Timestamps arrive as strings and are stored as such: formatting a Lua number for HSET
-- (or tostring) costs ~0.3 us each here, a sizeable share of an event's script time.
local now_s, maxlen, nb, bucket_ttl, sttl, slack = t[1], t[2], t[3], t[4], t[5], t[6]
local anon_ttl, anon_refresh = t[7], t[8]
local now = tonumber(now_s)
local i = 9

local cache = {}   -- key index -> {field -> value (number or string) | false}
local dirty = {}   -- key index -> {field -> true}
local deleted = {} -- key index -> {field -> true}
local adds = {}    -- key index -> {members...}
local order = {}   -- key indexes with pending writes, in first-touch order
local touched = {}
local reset = {}   -- key index -> true: delete the key before writing (expired session)

local np = t[i]; i = i + 1
for _ = 1, np do
  local ki, nf = t[i], t[i + 1]
  local values = redis.call('HMGET', KEYS[ki], unpack(t, i + 2, i + 1 + nf))
  local c = {}
  for f = 1, nf do c[t[i + 1 + f]] = values[f] end
  cache[ki] = c
  i = i + 2 + nf
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

-- Sessions: reset the expired ones before any operation sees them.
local sessions = {}
local ns = t[i]; i = i + 1
for s = 1, ns do
  local sk = t[i]
  i = i + 1
  sessions[s] = sk
  local sc = cache[sk]
  local seen = num(sc.seen_at)
  if seen and now - seen > sttl then
    for f in pairs(sc) do sc[f] = false end
    reset[sk] = true
    touch(sk)
  end
end

-- The two rings: {count field, size field, slot prefix, slot names formatted once per call}.
local SESSION_RING = {'ic', 'icap', 'i', {}}
local HISTORY_RING = {'hc', 'hcap', 'h', {}}
local function ring(ki, entry, cap, r)
  local c = cache[ki]
  local k = num(c[r[1]]) or 0
  if k == 0 then put(ki, r[2], cap) else cap = num(c[r[2]]) or cap end
  local slot = k % cap
  local names = r[4]
  local name = names[slot]
  if not name then name = r[3] .. slot; names[slot] = name end
  put(ki, name, entry)
  put(ki, r[1], k + 1)
end

local expires = {}
local nx = t[i]; i = i + 1
for x = 1, nx do expires[x] = {t[i], t[i + 1]}; i = i + 2 end

local na = t[i]; i = i + 1
local alias_keys, alias_of, anon_profile = {}, {}, {}
for a = 1, na do
  alias_of[t[i]] = a
  alias_keys[a] = KEYS[t[i + 1]]
  anon_profile[a] = t[i + 2]
  i = i + 3
end
local nr = t[i]; i = i + 1
local retained = {}
for r = 1, nr do retained[r] = t[i]; i = i + 1 end

local ne = t[i]; i = i + 1
local field0, fp0, pos0 = i - 1, i - 1 + ne, i - 1 + 2 * ne  -- t[field0 + e] is event e's field
i = i + 4 * ne
-- Seen before? One HMGET per bucket for the whole batch, newest bucket first.
local known = {}
for b = 1, nb do
  local got = redis.call('HMGET', KEYS[1 + b], unpack(t, field0 + 1, field0 + ne))
  for e = 1, ne do
    if known[e] == nil and got[e] then known[e] = got[e] end
  end
end

-- Number of arguments after the opcode.
local ARITY = {T = 4, IF = 1, HI = 3, HS = 3, HSNX = 3, HMAX = 3, HMIN = 3, HL = 5, HDD = 4,
               HD = 2, RP = 3, RH = 3, IT = 5, SA = 2, SNX = 2}

-- Apply n ops starting at t[i]; returns the cursor after them.
local function apply(n)
  local last = 0
  local skip = 0
  for _ = 1, n do
    local c = t[i]
    if skip > 0 then
      skip = skip - 1
    else
      local ki = t[i + 1]
      if c == 'T' then
        -- T profile session(0 = none) counter ts(string)
        local pk, sk, counter, ts_s = ki, t[i + 2], t[i + 3], t[i + 4]
        local ts = tonumber(ts_s)
        local pc = cache[pk]
        local first = num(pc.first_ts)
        if (not first) or ts < first then put(pk, 'first_ts', ts_s) end
        local latest = num(pc.last_ts)
        if (not latest) or ts > latest then put(pk, 'last_ts', ts_s) end
        put(pk, counter, (num(pc[counter]) or 0) + 1)
        if sk > 0 then
          local sc = cache[sk]
          if not sc.first_ts then
            put(sk, 'first_ts', ts_s)
            put(pk, 'sessions', (num(pc.sessions) or 0) + 1)
          end
          if ts > (num(sc.last_ts) or 0) then put(sk, 'last_ts', ts_s) end
          put(sk, counter, (num(sc[counter]) or 0) + 1)
          put(sk, 'seen_at', now_s)
        end
      elseif c == 'IT' then
        -- IT profile session(0 = none) entry history_max session_cap
        ring(ki, t[i + 3], t[i + 4], HISTORY_RING)
        if t[i + 2] > 0 then ring(t[i + 2], t[i + 3], t[i + 5], SESSION_RING) end
      elseif c == 'RP' then
        ring(ki, t[i + 2], t[i + 3], SESSION_RING)
      elseif c == 'RH' then
        ring(ki, t[i + 2], t[i + 3], HISTORY_RING)
      elseif c == 'IF' then
        if last ~= 1 then skip = ki end
      elseif c == 'HI' then
        local f = t[i + 2]
        put(ki, f, (num(cache[ki][f]) or 0) + tonumber(t[i + 3]))
      elseif c == 'HS' then
        put(ki, t[i + 2], t[i + 3])
      elseif c == 'HSNX' then
        if cache[ki][t[i + 2]] then last = 0 else put(ki, t[i + 2], t[i + 3]); last = 1 end
      elseif c == 'HMAX' then
        local f = t[i + 2]
        local cur, v = num(cache[ki][f]), tonumber(t[i + 3])
        if (not cur) or v > cur then put(ki, f, t[i + 3]) end
      elseif c == 'HMIN' then
        local f = t[i + 2]
        local cur, v = num(cache[ki][f]), tonumber(t[i + 3])
        if (not cur) or v < cur then put(ki, f, t[i + 3]) end
      elseif c == 'HL' then
        -- set field=value only if this event is not older than the one that set it last
        local tf = t[i + 4]
        local old, ts = num(cache[ki][tf]), tonumber(t[i + 5])
        if (not old) or old <= ts then put(ki, t[i + 2], t[i + 3]); put(ki, tf, t[i + 5]) end
      elseif c == 'HDD' then
        local qf = t[i + 2]
        local q = num(cache[ki][qf])
        if q then
          q = q - t[i + 4]
          if q <= 0 then del(ki, qf); del(ki, t[i + 3]) else put(ki, qf, q) end
        end
      elseif c == 'HD' then
        del(ki, t[i + 2])
      elseif c == 'SA' then
        local s = adds[ki]
        if not s then s = {}; adds[ki] = s; touch(ki) end
        s[#s + 1] = t[i + 2]
      elseif c == 'SNX' then
        last = redis.call('SETNX', KEYS[ki], t[i + 2])
      else
        error('unknown op ' .. tostring(c))
      end
    end
    i = i + 1 + ARITY[c]
  end
end

-- Visitors already merged into a user: one MGET for every alias key of the batch.
local targets = {}
if na > 0 then targets = redis.call('MGET', unpack(alias_keys)) end

local nc = t[i]; i = i + 1
local out = {}
local extend = {}  -- anonymous profiles whose TTL is pushed forward now
local applied = {}  -- event numbers, in order
local e = 0
for ci = 1, nc do
  local n_events = t[i]
  i = i + 1
  local target = alias_of[ci] and targets[alias_of[ci]]
  local res = {0}
  if target then res = {-1, target} end
  for r = 1, n_events do
    e = e + 1
    local n_ops = t[i]
    i = i + 1
    if target then
      for _ = 1, n_ops do i = i + 1 + ARITY[t[i]] end
    elseif known[e] then
      res[r + 1] = (known[e] == t[fp0 + e]) and 0 or 2
      for _ = 1, n_ops do i = i + 1 + ARITY[t[i]] end
    else
      apply(n_ops)
      applied[#applied + 1] = e
      res[r + 1] = 1
    end
  end
  local a = alias_of[ci]
  if a and not target and anon_ttl > 0 and dirty[anon_profile[a]] then
    local pk = anon_profile[a]
    local last = num(cache[pk].xttl)
    if (not last) or now - last >= anon_refresh then
      put(pk, 'xttl', now_s)
      extend[#extend + 1] = pk
    end
  end
  out[ci] = res
end

-- Sessions written in this batch: refresh their keys' real TTL when it is due.
local refresh = {}
for _, sk in ipairs(sessions) do
  if dirty[sk] then
    local at = num(cache[sk].ttl_at)
    if reset[sk] or (not at) or now - at >= slack then
      put(sk, 'ttl_at', now_s)
      refresh[#refresh + 1] = sk
    end
  end
end

-- Numbers are passed to HSET as Lua numbers: Redis formats them exactly (%.17g in 6.2,
-- shortest round-trip in 7), cheaper than string.format here.
for _, ki in ipairs(order) do
  local k = KEYS[ki]
  if reset[ki] then redis.call('DEL', k) end
  if dirty[ki] then
    local args = {}
    for f in pairs(dirty[ki]) do args[#args + 1] = f; args[#args + 1] = cache[ki][f] end
    if #args > 0 then redis.call('HSET', k, unpack(args)) end
  end
  if deleted[ki] and not reset[ki] then
    local fields = {}
    for f in pairs(deleted[ki]) do fields[#fields + 1] = f end
    if #fields > 0 then redis.call('HDEL', k, unpack(fields)) end
  end
  if adds[ki] then redis.call('SADD', k, unpack(adds[ki])) end
end
for r = 1, #refresh do redis.call('EXPIRE', KEYS[refresh[r]], sttl + slack) end
for _, x in ipairs(expires) do redis.call('EXPIRE', KEYS[x[1]], x[2]) end
for _, pk in ipairs(extend) do redis.call('EXPIRE', KEYS[pk], anon_ttl) end
if anon_ttl > 0 then  -- purchases and orders of a visitor: kept for the TTL after the last one
  for _, ki in ipairs(retained) do
    if touched[ki] then redis.call('EXPIRE', KEYS[ki], anon_ttl) end
  end
end

if #applied > 0 then
  local kv = {}
  for _, a in ipairs(applied) do kv[#kv + 1] = t[field0 + a]; kv[#kv + 1] = t[fp0 + a] end
  redis.call('HSET', KEYS[2], unpack(kv))
  redis.call('EXPIRE', KEYS[2], bucket_ttl)  -- relative: the caller's clock may not be Redis's
  local entry = ARGV[2]
  if #applied < ne then
    local parts = {}
    for p, a in ipairs(applied) do parts[p] = string.sub(entry, t[pos0 + 2 * a - 1], t[pos0 + 2 * a]) end
    entry = '[' .. table.concat(parts, ',') .. ']'
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'b', entry)
end
return out
