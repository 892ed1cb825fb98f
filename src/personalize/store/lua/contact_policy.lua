-- Reserve one offer impression for one customer: check every cap and budget, then
-- increment every counter, all or nothing (a Lua script runs atomically in Redis).
--
-- KEYS[1] customer contact hash   Keys.contacts(cid)       (field layout: offers/contact.py)
-- KEYS[2] budget counter, today   Keys.offer_budget(offer, YYYYMMDD)
-- KEYS[3] budget counter, total   Keys.offer_budget_total(offer)
-- Redis Cluster: KEYS[1] is hash-tagged per customer, KEYS[2..3] are global, so they may
-- live in other slots; this script needs a single Redis (or a shard-aware split) for now.
--
-- ARGV: 1 offer id, 2 day YYYYMMDD, 3 ISO week, 4 now (unix s),
--       5 max per day, 6 max per week, 7 max offers per day (all offers),
--       8 suppress after M dismissals, 9 suppression seconds, 10 cooldown seconds,
--       11 budget per day (-1: none), 12 budget total (-1: none),
--       13 TTL of the day budget key, 14 TTL of the contact hash
-- Returns {1, "ok", impressions today of this offer, offers today} or {0, reason}.

local o = ARGV[1]
local day, week, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local max_day, max_week, max_all = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local supp_after, supp_s, cool_s = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local budget_day, budget_total = tonumber(ARGV[11]), tonumber(ARGV[12])

local f = redis.call('HMGET', KEYS[1], 'imp:' .. o, 'impd:' .. o, 'impw:' .. o, 'impwk:' .. o,
  'all', 'alld', 'dis:' .. o, 'dist:' .. o, 'red:' .. o)

-- A counter stamped with another day/week is stale: it counts as zero.
local imp = 0
if f[2] == day then imp = tonumber(f[1]) or 0 end
local impw = 0
if f[4] == week then impw = tonumber(f[3]) or 0 end
local all = 0
if f[6] == day then all = tonumber(f[5]) or 0 end

if all >= max_all then return {0, 'cap:offers_per_day'} end
if imp >= max_day then return {0, 'cap:per_day'} end
if impw >= max_week then return {0, 'cap:per_week'} end
local dis = tonumber(f[7] or '0') or 0
if f[8] and dis >= supp_after and now < tonumber(f[8]) + supp_s then
  return {0, 'suppressed:dismissals'}
end
if f[9] and now < tonumber(f[9]) + cool_s then return {0, 'cooldown:redemption'} end

local spent_day = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if budget_day >= 0 and spent_day >= budget_day then return {0, 'budget:per_day'} end
local spent_total = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if budget_total >= 0 and spent_total >= budget_total then return {0, 'budget:total'} end

redis.call('HSET', KEYS[1], 'imp:' .. o, imp + 1, 'impd:' .. o, day,
  'impw:' .. o, impw + 1, 'impwk:' .. o, week, 'all', all + 1, 'alld', day)
redis.call('EXPIRE', KEYS[1], ARGV[14])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[13])
redis.call('INCR', KEYS[3])
return {1, 'ok', imp + 1, all + 1}
