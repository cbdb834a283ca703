--[[
  Ends a lease on an Idempotency-Key, if the caller (the nonce) still holds it: a lease
  that expired and was taken over belongs to its new holder.

  KEYS[1]  the key's record (layout: idempotency-claim.lua)
  ARGV[1]  the nonce of the lease
  ARGV[2]  commit:  the lease's own tail becomes the answer ('D' .. tail), TTL kept
           forget:  deleted (the request buffered nothing)
           abandon: expires now, tail kept (the request may have buffered its messages:
                    the next claimant checks their ids before taking the key)
           replace: the record becomes ARGV[3] (an answer found in PostgreSQL), TTL kept
  ARGV[3]  the record, for replace

  Returns 1 if settled, 0 if the caller no longer held the lease.
]]
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, 1) ~= 'L' or string.sub(current, 15, 22) ~= ARGV[1] then return 0 end

local mode = ARGV[2]
if mode == 'commit' then
  redis.call('SET', KEYS[1], 'D' .. string.sub(current, 23), 'KEEPTTL')
elseif mode == 'forget' then
  redis.call('DEL', KEYS[1])
elseif mode == 'abandon' then
  redis.call('SET', KEYS[1], 'L' .. string.rep('0', 13) .. string.sub(current, 15), 'KEEPTTL')
elseif mode == 'replace' then
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
else
  return redis.error_reply('unknown settle mode ' .. mode)
end
return 1
