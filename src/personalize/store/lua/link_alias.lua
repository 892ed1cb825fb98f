-- Link an anonymous visitor to a user (identify / login) and return the visitor's state
-- so the caller can merge it into the user's profile (the merge itself is guarded on the
-- user's side so that it happens once).
--
-- KEYS[1] alias key of the visitor, KEYS[2] profile (with the item history), KEYS[3] session
-- hash (with its items), KEYS[4] cart, KEYS[5] purchased set, KEYS[6] orders (order id ->
-- total, "r:<order>:<item>" -> returned amount: what was counted already)
-- ARGV[1] the user's customer id, ARGV[2] the alias's lifetime in seconds (0: none), so a
--   merged visitor's pointer expires like an anonymous visitor's state
-- Returns {status, profile, session, cart, purchased, orders}
--   status 1: linked now, 2: already linked to this user, 0: linked to another user
local current = redis.call('GET', KEYS[1])
local status = 1
if current then
  if current == ARGV[1] then status = 2 else return {0, current} end
else
  if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  else redis.call('SET', KEYS[1], ARGV[1]) end
end
return {
  status,
  redis.call('HGETALL', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]),
  redis.call('SMEMBERS', KEYS[5]),
  redis.call('HGETALL', KEYS[6]),
}
