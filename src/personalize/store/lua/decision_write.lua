-- Reserve the chosen offer (contact policy + budget, see contact_policy.lua) and log the
-- decision that matches the outcome, atomically: a decision record never claims an
-- offer the caps refused.
-- KEYS[1..3] as contact_policy.lua; KEYS[4] the decision stream.
-- ARGV[1..14] as contact_policy.lua; ARGV[15] stream maxlen; ARGV[16] record with the
-- offer; ARGV[17] record without it (used when a cap refused the offer).
local function reserve()
%RESERVE%
end
local r = reserve()
local record = ARGV[17]
if tonumber(r[1]) == 1 then record = ARGV[16] end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[15], '*', 'd', record)
return r
