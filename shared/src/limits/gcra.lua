-- GCRA over several limits at once, all or nothing.
-- KEYS[i]: limit i's theoretical arrival time (µs, Redis's clock).
-- ARGV[3i-2], ARGV[3i-1], ARGV[3i]: its quota, its window (µs), and what
-- this call spends of it.
-- Returns {denied, retry_us, remaining_1, reset_us_1, ...}: denied is the
-- index of the limit that refused (0: allowed, and spent on every limit),
-- retry_us how long until that limit allows the call.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local base, next_tat = {}, {}
local denied, retry = 0, 0
for i = 1, n do
  local quota, window, cost = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  base[i] = tat
  next_tat[i] = tat + window / quota * cost
  local wait = next_tat[i] - window - now
  if wait > retry then
    denied, retry = i, wait
  end
end
local out = {denied, math.ceil(retry)}
for i = 1, n do
  local quota, window = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local tat = base[i]
  if denied == 0 then
    tat = next_tat[i]
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  local remaining = math.floor((now + window - tat) * quota / window + 1e-6)
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(tat - now)
end
return out
