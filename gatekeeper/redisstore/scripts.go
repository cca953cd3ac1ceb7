package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts below are each one atomic step on the server: Redis runs
// a script to its end before any other command. Every key a script touches
// starts with the store's prefix, passed as ARGV[1]; the prefix is a hash
// tag ("{gatekeeper}"), so all keys share one slot. Each script checks
// everything before it writes anything, because Redis does not roll back
// the writes of a script that fails half-way.

// readScript reads, in one consistent view, whether each delivery id was
// seen and the evidence of each pull request. The caller passes the version
// token it has cached for each pull request; the evidence itself comes back
// only when the stored token differs, so that a cache hit costs no transfer
// of tens of kilobytes of JSON.
//
// The evidence comes as its JSON and its log (P:log:<pull>: the entries'
// JSON, oldest first, joined by commas into one string, which costs far
// less to send and read than a reply of 200 strings); evidence written
// before the log was kept apart has it inline in the JSON, and no list.
//
// ARGV: prefix, n, n delivery ids, m, m × (field, cached token).
// Reply: n × (1 seen, 0 new), then m × (token, json, log); "" for
// "absent" and for "not sent, your cache holds it".
var readScript = redis.NewScript(`
local p = ARGV[1]
local i = 2
local out = {}
local n = tonumber(ARGV[i]); i = i + 1
for d = 1, n do
  if redis.call('ZSCORE', p .. ':delivered', ARGV[i]) then out[#out+1] = 1 else out[#out+1] = 0 end
  i = i + 1
end
local m = tonumber(ARGV[i]); i = i + 1
for k = 1, m do
  local field, cached = ARGV[i], ARGV[i+1]
  i = i + 2
  local tok = redis.call('HGET', p .. ':ver', field)
  if not tok then
    out[#out+1] = ''; out[#out+1] = ''; out[#out+1] = ''
  elseif tok == cached then
    out[#out+1] = tok; out[#out+1] = ''; out[#out+1] = ''
  else
    out[#out+1] = tok; out[#out+1] = redis.call('GET', p .. ':ev:' .. field)
    out[#out+1] = table.concat(redis.call('LRANGE', p .. ':log:' .. field, 0, -1), ',')
  end
end
return out
`)

// commitScript writes one group of Records and Updates, or nothing. It is a
// compare-and-set: every delivery id must still be unseen, and every pull
// request's version token must still be the one the group read. Otherwise
// it writes nothing and says which check failed, and the group is read and
// applied again. When the checks pass it marks the deliveries seen (score:
// microseconds since 1970), writes each evidence with its new token,
// indexes its head shas and its index terms (gatekeeper.IndexTerms), and gives each pull request to queue a new
// generation from the one counter. It also leaves a receipt under the
// commit's unique id for ten minutes, by which a writer whose reply was lost
// tells whether its commit was made.
//
// The evidence's JSON holds all but its log; the log is the list
// P:log:<pull>, changed by what the group did to it: the entries pushed
// out dropped from its start (LTRIM), the new ones pushed at its end. So a
// delivery sends and writes its own entry, not the log. When the stored
// log is not that list (evidence written before the log was kept apart, or
// a change inside the log), the list is written whole ("replace").
//
// ARGV: prefix, commit id, now (µs), n, n delivery ids, m,
// m × (field, expected token or "", new token, json, queue 0/1, h, h head shas,
// t, t index terms, log mode "append" or "replace", dropped, e, e log
// entries),
// s, s × (field, decision json or "", max decisions, generation or "")
// (Settle's decision records and dequeues, made after the evidence).
// Reply: {"ok", s × 1 dequeued / 0 not}, {"dup", id} or {"stale", field}.
var commitScript = redis.NewScript(`
local p = ARGV[1]
local cid = ARGV[2]
local now = ARGV[3]
local i = 4
local n = tonumber(ARGV[i]); i = i + 1
local ids = {}
for d = 1, n do
  if redis.call('ZSCORE', p .. ':delivered', ARGV[i]) then return {'dup', ARGV[i]} end
  ids[#ids+1] = ARGV[i]; i = i + 1
end
local m = tonumber(ARGV[i]); i = i + 1
local pulls = {}
for k = 1, m do
  local field, expect, tok, json, queue, h = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], tonumber(ARGV[i+5])
  i = i + 6
  local cur = redis.call('HGET', p .. ':ver', field) or ''
  if cur ~= expect then return {'stale', field} end
  local heads = {}
  for x = 1, h do heads[x] = ARGV[i]; i = i + 1 end
  local t = tonumber(ARGV[i]); i = i + 1
  local terms = {}
  for x = 1, t do terms[x] = ARGV[i]; i = i + 1 end
  local mode, dropped, e = ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2])
  i = i + 3
  local entries = {}
  for x = 1, e do entries[x] = ARGV[i]; i = i + 1 end
  pulls[k] = {field, tok, json, queue, heads, terms, mode, dropped, entries}
end
for _, id in ipairs(ids) do
  redis.call('ZADD', p .. ':delivered', now, id)
end
for _, pl in ipairs(pulls) do
  redis.call('SET', p .. ':ev:' .. pl[1], pl[3])
  redis.call('HSET', p .. ':ver', pl[1], pl[2])
  local log = p .. ':log:' .. pl[1]
  if pl[7] == 'replace' then
    redis.call('DEL', log)
  elseif pl[8] > 0 then
    redis.call('LTRIM', log, pl[8], -1)
  end
  for _, entry in ipairs(pl[9]) do
    redis.call('RPUSH', log, entry)
  end
  for _, sha in ipairs(pl[5]) do
    redis.call('SADD', p .. ':head:' .. sha, pl[1])
  end
  for _, term in ipairs(pl[6]) do
    redis.call('SADD', p .. ':idx:' .. term, pl[1])
  end
  if pl[4] == '1' then
    redis.call('HSET', p .. ':queue', pl[1], redis.call('INCR', p .. ':gen'))
  end
end
local out = {'ok'}
local s = tonumber(ARGV[i] or '0'); i = i + 1
for k = 1, s do
  local field, dec, max, gen = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  i = i + 4
  if dec ~= '' then
    redis.call('LPUSH', p .. ':dec:' .. field, dec)
    redis.call('LTRIM', p .. ':dec:' .. field, 0, tonumber(max) - 1)
  end
  local done = 0
  if gen ~= '' and redis.call('HGET', p .. ':queue', field) == gen then
    redis.call('HDEL', p .. ':queue', field)
    done = 1
  end
  out[#out+1] = done
end
redis.call('SET', p .. ':commit:' .. cid, 1, 'EX', 600)
return out
`)

// enqueueScript gives a pull request the next generation.
// ARGV: prefix, field. Reply: the generation.
var enqueueScript = redis.NewScript(`
local g = redis.call('INCR', ARGV[1] .. ':gen')
redis.call('HSET', ARGV[1] .. ':queue', ARGV[2], g)
return g
`)

// doneScript removes a pull request from the queue if its generation is
// still the one given. ARGV: prefix, field, generation. Reply: 1 removed, 0 not.
var doneScript = redis.NewScript(`
if redis.call('HGET', ARGV[1] .. ':queue', ARGV[2]) == ARGV[3] then
  redis.call('HDEL', ARGV[1] .. ':queue', ARGV[2])
  return 1
end
return 0
`)

// addDecisionScript pushes a decision record and keeps the newest max.
// ARGV: prefix, field, json, max.
var addDecisionScript = redis.NewScript(`
local k = ARGV[1] .. ':dec:' .. ARGV[2]
redis.call('LPUSH', k, ARGV[3])
redis.call('LTRIM', k, 0, tonumber(ARGV[4]) - 1)
return 1
`)

// The lease scripts keep one key per leased pull request, P:lease:<pull>,
// whose value is "<token>|<owner>" and whose expiry (PX) is the lease's:
// Redis drops it when nobody renews it. Tokens come from one counter,
// P:fence, so that a newer lease always has a larger token.

// acquireScript takes the lease when nobody holds it.
// ARGV: prefix, field, owner, ttl (ms). Reply: the token, or 0 when held.
var acquireScript = redis.NewScript(`
local k = ARGV[1] .. ':lease:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then return 0 end
local t = redis.call('INCR', ARGV[1] .. ':fence')
redis.call('SET', k, t .. '|' .. ARGV[3], 'PX', ARGV[4])
return t
`)

// renewScript extends the lease when it is still (token, owner)'s.
// ARGV: prefix, field, owner, token, ttl (ms). Reply: 1 renewed, 0 not.
var renewScript = redis.NewScript(`
local k = ARGV[1] .. ':lease:' .. ARGV[2]
if redis.call('GET', k) ~= ARGV[4] .. '|' .. ARGV[3] then return 0 end
redis.call('PEXPIRE', k, ARGV[5])
return 1
`)

// releaseScript drops the lease when it is still (token, owner)'s.
// ARGV: prefix, field, owner, token. Reply: 1 released, 0 not.
var releaseScript = redis.NewScript(`
local k = ARGV[1] .. ':lease:' .. ARGV[2]
if redis.call('GET', k) ~= ARGV[4] .. '|' .. ARGV[3] then return 0 end
redis.call('DEL', k)
return 1
`)

// fencedScript says whether token is the live lease's.
// ARGV: prefix, field, token. Reply: 1 or 0.
var fencedScript = redis.NewScript(`
local v = redis.call('GET', ARGV[1] .. ':lease:' .. ARGV[2])
if v and string.match(v, '^(%d+)|') == ARGV[3] then return 1 end
return 0
`)

// settleScript is addDecisionScript and doneScript in one step, either
// part optional. ARGV: prefix, field, json ("" for none), max, generation
// ("" for no dequeue). Reply: 1 dequeued, 0 not.
var settleScript = redis.NewScript(`
if ARGV[3] ~= '' then
  local k = ARGV[1] .. ':dec:' .. ARGV[2]
  redis.call('LPUSH', k, ARGV[3])
  redis.call('LTRIM', k, 0, tonumber(ARGV[4]) - 1)
end
if ARGV[5] ~= '' and redis.call('HGET', ARGV[1] .. ':queue', ARGV[2]) == ARGV[5] then
  redis.call('HDEL', ARGV[1] .. ':queue', ARGV[2])
  return 1
end
return 0
`)
