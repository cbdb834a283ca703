--[[
  A token bucket shared by every worker: takes up to ARGV[3] tokens at once, as many as
  the bucket holds (whole tokens), and says how long until the next one.

  KEYS[1]  hash: <prefix>:provider-rate:<provider>, fields tokens (float) and at (ms)
  ARGV[1]  rate: tokens added per second (> 0)
  ARGV[2]  burst: what the bucket holds at most (>= 1); also its start
  ARGV[3]  tokens wanted (>= 1)
  ARGV[4]  now in ms, or "" for Redis's own clock (TIME), which every worker then shares

  Returns { granted, waitMs }: granted tokens (0..ARGV[3]); waitMs until one more token is
  in the bucket (0 when one is there already). Over any interval of T ms, the tokens
  granted never exceed burst + rate * T / 1000. A clock that goes back adds nothing.
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end

local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
local waitMs = 0
if tokens < 1 then waitMs = math.ceil((1 - tokens) * 1000 / rate) end

redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%d', at))
-- Gone once it would be full again anyway (a bucket that starts full then changes nothing),
-- and not before a minute: a caller's clock (ARGV[4]) may run slower than Redis's.
redis.call('PEXPIRE', KEYS[1], math.max(60000, math.ceil(burst * 1000 / rate) + 1000))
return { granted, waitMs }
