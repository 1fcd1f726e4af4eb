//! The Lua scripts that keep values and their indexes in step, one step each.

use ::redis::Cmd;

/// Index members that expired longer ago than this are removed from the index.
pub(super) const INDEX_GRACE_MS: u64 = 60_000;

/// Removes index members whose value key no longer exists, e.g. after an eviction by Redis'
/// `maxmemory` policy. KEYS[1] is the namespace index; for the i-th member (ARGV[i]),
/// KEYS[2i] is its value key and KEYS[2i+1] its parent index (or the namespace index again
/// for a key without parent). Checking inside the script keeps a concurrent put of the same
/// key safe.
pub(super) const PRUNE_VANISHED: &str = r"
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[2 * i]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2 * i + 1], ARGV[i])
  end
end
return 0
";

/// Keeps an index (KEYS[1]) from outliving its members: drops members whose expiry (the
/// score) lies before ARGV[1], then lets the index expire ARGV[3] ms after its latest member,
/// counted from now (ARGV[2], ms since the epoch), or persist while a member has no expiry.
/// Every write to an index runs it, so an index nobody writes or reads again still goes.
pub(super) const REFRESH_INDEX: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  return 0
end
if last[2] == 'inf' or last[2] == '+inf' then
  redis.call('PERSIST', KEYS[1])
else
  local ms = math.ceil(tonumber(last[2]) - tonumber(ARGV[2]) + tonumber(ARGV[3]))
  if ms < 1 then
    ms = 1
  end
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ms))
end
return 0
";

/// `SET NX` of a value and, if it was stored, its index entries. KEYS: value key, namespace
/// index, parent index (or the namespace index again). ARGV: value, TTL in ms (empty for
/// none), index member, index score. Returns 1 if stored, 0 if the key held a value.
pub(super) const INSERT_IF_ABSENT: &str = r"
local stored
if ARGV[2] == '' then
  stored = redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  stored = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
end
if not stored then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
return 1
";

/// `INCRBY` of a counter; a new counter gets its TTL and index entries. KEYS as for
/// [`INSERT_IF_ABSENT`]. ARGV: increment, TTL in ms (empty for none), index member, index
/// score. Returns the new count.
pub(super) const INCR: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then
  if ARGV[2] ~= '' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
end
return count
";

/// `EVAL` of [`REFRESH_INDEX`] for `index`.
pub(super) fn refresh_index(index: &str, now: u64) -> Cmd {
    let mut eval = ::redis::cmd("EVAL");
    eval.arg(REFRESH_INDEX)
        .arg(1)
        .arg(index)
        .arg(now.saturating_sub(INDEX_GRACE_MS))
        .arg(now)
        .arg(INDEX_GRACE_MS);
    eval
}
