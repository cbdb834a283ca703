--[[
  Removes a presence entry a reader found stale, only if its score is still the one the
  reader saw: a gateway that re-added it since gave it a new score, and it stays.

  KEYS[1]  sorted set: <prefix>:presence:<phone>
  ARGV[1]  member, "<gatewayId>|<connectionId>"
  ARGV[2]  the score the reader saw (as Redis printed it)

  Returns 1 if removed, else 0.
]]
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
