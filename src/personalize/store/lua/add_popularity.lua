-- Add a flush's worth of popularity increments: one call instead of one ZINCRBY round
-- trip per (item, category) in a pipeline (~0.9 per ingested event with long-tail items).
--
-- KEYS: the popularity sorted sets (global and per category).
-- ARGV[1]: msgpack {{key_index, member, increment, member, increment, ...}, ...}
for _, group in ipairs(cmsgpack.unpack(ARGV[1])) do
  local key = KEYS[group[1]]
  for i = 2, #group, 2 do
    redis.call('ZINCRBY', key, group[i + 1], group[i])
  end
end
return 0
