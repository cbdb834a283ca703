--[[
  Sliding-window rate limit with a burst cap, exact (a log of admissions), for the
  requests of one tenant gathered during one event-loop tick of one api process:
  one script call decides them all, in order.

  KEYS[1]  sorted set: member = unique admission id, score = admission time (ms)
  KEYS[2]  string: the latest time this limiter has been called at (ms)
  ARGV[1]  now (ms): the caller's clock
  ARGV[2]  window (ms)
  ARGV[3]  limit per window (rpm)
  ARGV[4]  limit per second (burst)
  ARGV[5]  unique id prefix for this call's members
  ARGV[6…] the cost (messages) of each request, in arrival order

  Time never runs backwards for one key: a caller whose clock is behind the latest
  time seen (another api process's clock a few ms ahead) is counted at that latest
  time. So no window (t - window, t] ever holds more than `limit` admissions, nor any
  second more than `burst`, whatever the callers' clocks.

  A request is admitted when both windows still have its cost free, recording `cost`
  members; a refused request records nothing.
  Returns, per request, { admitted (1|0), used in the window after it, ms until enough slots free (0 if admitted) }
]]
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local prefix = ARGV[5]

local latest = tonumber(redis.call('GET', KEYS[2]))
if latest and latest > now then now = latest end
-- The clock outlives the log: the log expires `window` after its last admission.
redis.call('SET', KEYS[2], string.format('%.0f', now), 'PX', window)

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
local usedSecond = redis.call('ZCOUNT', key, now - 1000 + 1, '+inf')
local out = {}
local admittedAny = false

for r = 6, #ARGV do
  local cost = tonumber(ARGV[r])
  if used + cost <= limit and usedSecond + cost <= burst then
    local args = {}
    for i = 1, cost do
      args[#args + 1] = now
      args[#args + 1] = prefix .. ':' .. r .. ':' .. i
    end
    redis.call('ZADD', key, unpack(args))
    used = used + cost
    usedSecond = usedSecond + cost
    admittedAny = true
    out[#out + 1] = 1
    out[#out + 1] = used
    out[#out + 1] = 0
  else
    -- When would enough slots be free? The k-th oldest admission leaves the window at score + window.
    local wait = 0
    if cost > limit or cost > burst then
      wait = window
    else
      if used + cost > limit then
        local oldest = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
        wait = math.max(wait, tonumber(oldest[2]) + window - now)
      end
      if usedSecond + cost > burst then
        local recent = redis.call('ZRANGEBYSCORE', key, now - 1000 + 1, '+inf', 'WITHSCORES', 'LIMIT', usedSecond + cost - burst - 1, 1)
        wait = math.max(wait, tonumber(recent[2]) + 1000 - now)
      end
    end
    out[#out + 1] = 0
    out[#out + 1] = used
    out[#out + 1] = math.max(wait, 1)
  end
end

if admittedAny then redis.call('PEXPIRE', key, window) end
return out
