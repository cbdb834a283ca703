--[[
  Sliding-window rate limit with a burst cap, exact to the millisecond, for the
  requests of one tenant gathered during one event-loop tick of one api process:
  one script call decides them all, in order.

  The window is kept as buckets, one per millisecond in which something was admitted,
  with running totals: a call costs a few commands however many messages it admits
  (an exact log of admissions cost one sorted-set member per message). Every
  admission of one call happens at the same millisecond, so per-millisecond buckets
  decide exactly as that log did.

  KEYS[1]  sorted set of buckets: member = the millisecond (decimal), score = the same
  KEYS[2]  string: the latest time this limiter has been called at (ms)
  KEYS[3]  hash: bucket millisecond -> messages admitted in it; and the running totals
           "used" (in the window), "second" (in the last 1000 ms) and "secondFrom" (the
           first millisecond "second" still counts)
  ARGV[1]  now (ms): the caller's clock
  ARGV[2]  window (ms), at least 1000
  ARGV[3]  limit per window (rpm)
  ARGV[4]  limit per second (burst)
  ARGV[5…] the cost (messages) of each request, in arrival order

  Time never runs backwards for one key: a caller whose clock is behind the latest
  time seen (another api process's clock a few ms ahead) is counted at that latest
  time. So no window (t - window, t] ever holds more than `limit` admissions, nor any
  second more than `burst`, whatever the callers' clocks.

  A request is admitted when both windows still have its cost free; a refused request
  records nothing.
  Returns, per request, { admitted (1|0), used in the window after it, ms until enough slots free (0 if admitted) }
]]
local buckets, clockKey, counts = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local CHUNK = 500

local latest = tonumber(redis.call('GET', clockKey))
if latest and latest > now then now = latest end
local nowText = string.format('%.0f', now)
-- The clock outlives the buckets: they expire `window` after the last admission.
redis.call('SET', clockKey, nowText, 'PX', window)

local state = redis.call('HMGET', counts, 'used', 'second', 'secondFrom')
local used = tonumber(state[1]) or 0
local usedSecond = tonumber(state[2]) or 0
local secondFrom = tonumber(state[3]) or 0

-- Calls each(ms, count) for the bucket members in list, oldest first.
local function eachCount(list, each)
  for i = 1, #list, CHUNK do
    local last = math.min(i + CHUNK - 1, #list)
    local slice = redis.call('HMGET', counts, unpack(list, i, last))
    for j, c in ipairs(slice) do each(tonumber(list[i + j - 1]), tonumber(c) or 0) end
  end
end

-- Buckets that left the window: out of both totals ("second" only if it still counted them).
local gone = redis.call('ZRANGEBYSCORE', buckets, '-inf', now - window)
if #gone > 0 then
  eachCount(gone, function(ms, c)
    used = used - c
    if ms >= secondFrom then usedSecond = usedSecond - c end
  end)
  redis.call('ZREMRANGEBYSCORE', buckets, '-inf', now - window)
  for i = 1, #gone, CHUNK do redis.call('HDEL', counts, unpack(gone, i, math.min(i + CHUNK - 1, #gone))) end
end
-- Buckets that left the last second (still in the window): out of "second".
if secondFrom <= now - 1000 then
  eachCount(redis.call('ZRANGEBYSCORE', buckets, secondFrom, now - 1000), function(_, c) usedSecond = usedSecond - c end)
  secondFrom = now - 999
end

-- The first bucket from `min` on (oldest first) at which `need` admissions have passed:
-- its ms. Not reached in the stored buckets: it is among this call's admissions, at now.
-- Every bucket holds at least one admission, so it is among the first `need` buckets:
-- a refusal reads at most that many (1 for a single request), and a call remembers what
-- it found for the refusals after it.
local found = {}
local function msWhenPassed(min, need)
  local cacheKey = (type(min) == 'number' and string.format('%.0f', min) or min) .. ':' .. need
  if found[cacheKey] then return found[cacheKey] end
  local seen, from, result = 0, min, now
  while seen < need do
    local page = redis.call('ZRANGEBYSCORE', buckets, from, '+inf', 'LIMIT', 0, math.min(need - seen, CHUNK))
    if #page == 0 then break end
    local slice = redis.call('HMGET', counts, unpack(page))
    for i, c in ipairs(slice) do
      seen = seen + (tonumber(c) or 0)
      if seen >= need then
        result = tonumber(page[i])
        break
      end
    end
    from = '(' .. page[#page]
  end
  found[cacheKey] = result
  return result
end

local out = {}
local admitted = 0
for r = 5, #ARGV do
  local cost = tonumber(ARGV[r])
  if used + cost <= limit and usedSecond + cost <= burst then
    used = used + cost
    usedSecond = usedSecond + cost
    admitted = admitted + cost
    out[#out + 1] = 1
    out[#out + 1] = used
    out[#out + 1] = 0
  else
    -- When would enough slots be free? The k-th oldest admission leaves the window at its ms + window.
    local wait = 0
    if cost > limit or cost > burst then
      wait = window
    else
      if used + cost > limit then
        wait = math.max(wait, msWhenPassed('-inf', used + cost - limit) + window - now)
      end
      if usedSecond + cost > burst then
        wait = math.max(wait, msWhenPassed(now - 999, usedSecond + cost - burst) + 1000 - now)
      end
    end
    out[#out + 1] = 0
    out[#out + 1] = used
    out[#out + 1] = math.max(wait, 1)
  end
end

if admitted > 0 then
  redis.call('ZADD', buckets, now, nowText)
  redis.call('HINCRBY', counts, nowText, admitted)
end
if used == 0 then
  -- Nothing left in the window: no state to keep.
  redis.call('DEL', buckets, counts)
else
  redis.call('HSET', counts, 'used', used, 'second', usedSecond, 'secondFrom', string.format('%.0f', secondFrom))
  if admitted > 0 then
    redis.call('PEXPIRE', buckets, window)
    redis.call('PEXPIRE', counts, window)
  end
end
return out
