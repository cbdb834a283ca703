--[[
  Refused API keys of one client address, in a sliding window. Two kinds of entry:
  "r:<id>" a key refused (unknown, revoked, over-long, or not checkable), and "h:<id>" an
  attempt let through to a PostgreSQL lookup whose verdict is not in yet. A held attempt
  counts against the limit (so concurrent guesses cannot all pass before the first is
  refused) until the caller settles it: removed for a real key, turned into "r:" for a
  refused one.

  KEYS[1]  sorted set: member = kind .. ':' .. id, score = its time (ms)
  ARGV[1]  now (ms): the caller's clock
  ARGV[2]  window (ms)
  ARGV[3]  limit: refused keys per window
  ARGV[4]  attempt id
  ARGV[5]  mode: 'attempt' (a lookup may follow; held when let through) or 'refusal'
           (a key refused without a lookup; entered as refused when let through)

  Returns { 1, 0 } let through (and entered);
          { 0, ms until the oldest refusal leaves the window } when `limit` keys were refused;
          { 2, 0 } when the limit is reached only with held attempts: wait for their verdicts.
]]
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local mode = ARGV[5]

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local refused, oldest = 0, nil
for i = 1, #entries, 2 do
  if string.sub(entries[i], 1, 2) == 'r:' then
    refused = refused + 1
    oldest = oldest or tonumber(entries[i + 1])
  end
end
if refused >= limit then
  return { 0, math.max(1, oldest + window - now) }
end
if mode == 'attempt' and #entries / 2 >= limit then
  return { 2, 0 }
end
redis.call('ZADD', key, now, (mode == 'attempt' and 'h:' or 'r:') .. ARGV[4])
redis.call('PEXPIRE', key, window)
return { 1, 0 }
