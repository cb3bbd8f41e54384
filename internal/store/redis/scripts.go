package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts run atomically on the server. Fields missing from a hash
// come back as false in Lua, hence the `or` defaults.

// Index pairs (ARGV ix) are a JSON list: zset key, member, zset key,
// member... Every index zset has score 0 and sorts by member (see index.go).
const indexPairs = `
local function zpairs(cmd, ix)
  if not ix then return end
  local p = cjson.decode(ix)
  for i = 1, #p, 2 do
    if cmd == 'ZADD' then redis.call('ZADD', p[i], 0, p[i+1]) else redis.call('ZREM', p[i], p[i+1]) end
  end
end
`

// createRollback: KEYS rb hash; ARGV json, ix.
var createRollback = goredis.NewScript(indexPairs + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', '1', 'json', ARGV[1], 'ix', ARGV[2])
zpairs('ZADD', ARGV[2])
return 1`)

// updateRollback is the compare-and-set on the version; the record leaves
// its old indexes and enters its new ones in the same step.
// KEYS rb hash; ARGV expected version, new version, json, ix.
// Returns -1 missing, 0 conflict, 1 written.
var updateRollback = goredis.NewScript(indexPairs + `
local h = redis.call('HMGET', KEYS[1], 'v', 'ix')
if not h[1] then return -1 end
if h[1] ~= ARGV[1] then return 0 end
zpairs('ZREM', h[2])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'json', ARGV[3], 'ix', ARGV[4])
zpairs('ZADD', ARGV[4])
return 1`)

// indexRollback indexes a record stored before indexes existed, unless it
// changed since it was read (-1: read again) or a writer already indexed
// it (0). KEYS rb hash; ARGV version read, ix.
var indexRollback = goredis.NewScript(indexPairs + `
local h = redis.call('HMGET', KEYS[1], 'v', 'ix')
if not h[1] then return 0 end
if h[2] then return 0 end
if h[1] ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'ix', ARGV[2])
zpairs('ZADD', ARGV[2])
return 1`)

// putDrill stores a scorecard and moves its index entry.
// KEYS drills hash, id -> index pair hash; ARGV id, json, pair, zset, member.
var putDrill = goredis.NewScript(indexPairs + `
zpairs('ZREM', redis.call('HGET', KEYS[2], ARGV[1]) or nil)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
zpairs('ZADD', ARGV[3])
return 1`)

// appendSteps is fenced by the lease's current token.
// KEYS lease hash, steps list; ARGV token, json... Returns -1 for a stale
// token, else the new length, which is the last step's seq. One RPUSH per
// event: unpack(ARGV) fails past Lua's stack limit (~8,000 values).
var appendSteps = goredis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
if tonumber(ARGV[1]) < cur then return -1 end
local n = 0
for i = 2, #ARGV do n = redis.call('RPUSH', KEYS[2], ARGV[i]) end
return n`)

// putVote: KEYS seen-hash, order list; ARGV plan\0user, json.
var putVote = goredis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1`)

// addDeploy: KEYS deploy hash, service zset; ARGV json, score, id, service.
var addDeploy = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'svc', ARGV[4], 'json', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`)

// putDeploy moves the deploy between service indexes when its service or
// time changes. KEYS deploy hash, new service zset; ARGV json, score, id,
// service, prefix of service zsets.
var putDeploy = goredis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'svc')
if not old then return 0 end
redis.call('ZREM', ARGV[5] .. old, ARGV[3])
redis.call('HSET', KEYS[1], 'svc', ARGV[4], 'json', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`)

// enqueueEvent checks every dedup key and the event id, then sets the
// keys and stores the event, all or nothing.
// KEYS pending zset, data hash, seq counter, dedup keys...; ARGV id, json,
// ttl ms. Returns 1 stored, 0 duplicate.
var enqueueEvent = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
for i = 4, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], '1', 'PX', ARGV[3])
end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
return 1`)

// Leases are hashes {holder, token, exp (server ms), rel}. token doubles
// as the per-name counter; the hash is never deleted, so tokens only grow.
// Times are written with %.0f because Lua would otherwise pick the number
// format.
const leaseNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// acquireLease: KEYS lease; ARGV holder, ttl ms, grace ms. Returns {1,
// token, exp}, or {0, draining, token, exp, holder, grace} when someone
// else holds it: draining is 1 when that grant expired less than the larger
// of grace and the holder's own grace (stored with its grant) ago.
var acquireLease = goredis.NewScript(leaseNow + `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'exp', 'rel', 'grace')
local token = tonumber(h[2] or '0')
local held = h[1] and h[4] ~= '1'
local oldexp = tonumber(h[3] or '0')
local oldgrace = tonumber(h[5] or '0')
local live = held and now < oldexp
if held and h[1] ~= ARGV[1] and now < oldexp + math.max(tonumber(ARGV[3]), oldgrace) then
  local draining = 0
  if not live then draining = 1 end
  return {0, draining, token, oldexp, h[1], oldgrace}
end
if not live then token = redis.call('HINCRBY', KEYS[1], 'token', 1) end
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'exp', string.format('%.0f', exp), 'rel', '0', 'grace', ARGV[3])
return {1, token, exp}`)

// renewLease: KEYS lease; ARGV holder, token, ttl ms. Returns {1, exp} or
// {0} when the lease was released or granted to someone else.
var renewLease = goredis.NewScript(leaseNow + `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'rel')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] or h[3] == '1' then return {0} end
local exp = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'exp', string.format('%.0f', exp))
return {1, exp}`)

// releaseLease: KEYS lease; ARGV holder, token. Returns 1, or 0 when the
// lease is someone else's now.
var releaseLease = goredis.NewScript(leaseNow + `
local h = redis.call('HMGET', KEYS[1], 'holder', 'token', 'rel')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 0 end
if h[3] ~= '1' then redis.call('HSET', KEYS[1], 'exp', string.format('%.0f', now), 'rel', '1') end
return 1`)
