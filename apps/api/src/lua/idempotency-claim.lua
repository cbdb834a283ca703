--[[
  Claims an Idempotency-Key for one request: takes its lease when the key is free (or its
  lease expired and the caller found that lease's request buffered nothing), else answers
  what holds the key. One call per attempt; a repeat waiting for a live lease calls again
  after a backoff, never in a tight loop.

  The record (apps/api/src/idempotency-record.ts has the layout):
    'D' .. tail                                   answered
    'L' .. deadline .. nonce .. tail              leased: deadline = 13 decimal digits, ms on
                                                  Redis's clock; nonce = 8 bytes naming the holder
  The lease is written with the whole tail (body hash, acceptance time, the ids the request
  is about to buffer) and the record's full TTL, before any message is buffered: whoever
  finds it expired can tell whether its request buffered anything, and a replica that holds
  a request's messages holds its record too (one Redis replicates in order; on a Cluster,
  where the messages live on another master, the api waits for the lease's replicas first:
  REDIS_WAIT_REPLICAS).

  KEYS[1]  the key's record (string)
  KEYS[2]  the time (ms) since which Redis holds every record (the tenant's, in KEYS[1]'s
           slot, on a Cluster); written when missing
  ARGV[1]  the caller's nonce (8 bytes)
  ARGV[2]  the caller's tail
  ARGV[3]  lease (ms)
  ARGV[4]  record TTL (s)
  ARGV[5]  the nonce of an expired lease whose request the caller found buffered nothing,
           to take it over; '' when none

  Returns { 0, ms since KEYS[2] }  the caller holds the lease
          { 1, record }            answered
          { 2, record, ms left }   another request holds the lease
          { 3, record }            that lease expired: the caller checks its ids, then
                                   calls again with its nonce in ARGV[5]
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local current = redis.call('GET', KEYS[1])
if current then
  if string.sub(current, 1, 1) ~= 'L' then return { 1, current } end
  local deadline = tonumber(string.sub(current, 2, 14))
  if deadline > now then return { 2, current, deadline - now } end
  if string.sub(current, 15, 22) ~= ARGV[5] then return { 3, current } end
end

redis.call('SET', KEYS[1], 'L' .. string.format('%013.0f', now + tonumber(ARGV[3])) .. ARGV[1] .. ARGV[2], 'EX', ARGV[4])
local since = tonumber(redis.call('GET', KEYS[2]))
if not since then
  since = now
  redis.call('SET', KEYS[2], string.format('%.0f', now))
end
return { 0, now - since }
