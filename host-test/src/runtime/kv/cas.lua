-- Compare-and-swap of one KV entry, run atomically by Redis. Shared by every host of the
-- plugin that keeps its state in Redis, so that they read and write entries alike.
-- A value is `<expires_at>\n<bytes>` (expires_at in ms on the host's clock; 0: never).
-- KEYS[1]: the key. ARGV: now, has-expected (0/1), expected bytes, has-new (0/1), new encoded
-- value, PX (ms until Redis may drop the entry; 0: never).
local cur = redis.call('GET', KEYS[1])
local live = false
local payload = nil
if cur then
  local nl = string.find(cur, '\n', 1, true)
  if nl then
    local exp = tonumber(string.sub(cur, 1, nl - 1))
    payload = string.sub(cur, nl + 1)
    live = exp == 0 or exp > tonumber(ARGV[1])
  end
end
local ok
if ARGV[2] == '0' then ok = not live else ok = live and payload == ARGV[3] end
if not ok then return 0 end
if ARGV[4] == '1' and ARGV[6] == '0' then
  redis.call('SET', KEYS[1], ARGV[5])
elseif ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[6])
else
  redis.call('DEL', KEYS[1])
end
return 1
