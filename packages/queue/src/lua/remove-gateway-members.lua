--[[
  Removes every member of one gateway from a phone's presence set: the entries it left
  behind for a phone it no longer holds a connection of (pruneOwnPresence).

  KEYS[1]  sorted set: <prefix>:presence:<phone>, members "<gatewayId>|<connectionId>"
  ARGV[1]  the gateway's member prefix, "<gatewayId>|"

  Returns the number of members removed.
]]
local removed = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #ARGV[1]) == ARGV[1] then removed = removed + redis.call('ZREM', KEYS[1], m) end
end
return removed
