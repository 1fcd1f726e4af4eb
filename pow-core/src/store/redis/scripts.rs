//! The Lua scripts that change a group (the hash holding the records whose keys share their
//! first two segments), one step each.
//!
//! A field's value is its expiry (8 bytes, big-endian milliseconds since the epoch by the
//! application's clock; 0 for none) followed by the record's bytes. Every script that writes
//! a group also settles it: it drops the fields that expired and lets the hash expire
//! [`GROUP_GRACE_MS`] after its last live field (or persist while a field has no expiry).

/// How long a group outlives its last field's expiry: absorbs clock differences between
/// the application servers and Redis. Readers judge each field's expiry themselves.
pub(super) const GROUP_GRACE_MS: u64 = 60_000;

/// Groups of at most this many fields are settled whole on every write: every expired
/// field dropped, the TTL set to the last live one's. Larger ones (a user with very many
/// sessions or tokens) drop the expired fields among [`SAMPLE`] random ones and only extend
/// their TTL, so that a write costs the same however large its group grew.
const FULL_SETTLE: u32 = 128;
const SAMPLE: u32 = 16;

/// Shared by the scripts below: `expiry(value)` reads a field's expiry, `settle(group, now,
/// grace, written)` drops expired fields and sets the group's TTL (`written`: the expiry of
/// the field just written, 0 for none).
static SETTLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    SETTLE_TEMPLATE
        .replace("FULL_SETTLE", &FULL_SETTLE.to_string())
        .replace("SAMPLE", &SAMPLE.to_string())
});

const SETTLE_TEMPLATE: &str = r"
local function expiry(value)
  local a, b, c, d, e, f, g, h = string.byte(value, 1, 8)
  if not h then
    return 0
  end
  return ((((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f) * 256 + g) * 256 + h
end

local function settle(group, now, grace, written)
  if redis.call('HLEN', group) <= FULL_SETTLE then
    local all = redis.call('HGETALL', group)
    local last, forever = 0, false
    for i = 1, #all, 2 do
      local at = expiry(all[i + 1])
      if at == 0 then
        forever = true
      elseif at <= now then
        redis.call('HDEL', group, all[i])
      elseif at > last then
        last = at
      end
    end
    if forever then
      redis.call('PERSIST', group)
    elseif last > 0 then
      redis.call('PEXPIRE', group, string.format('%d', last - now + grace))
    end
    return
  end
  -- A large group: drop the expired fields among a sample, and only ever extend the
  -- group's TTL to cover what was just written (bounded work per write).
  local sample = redis.call('HRANDFIELD', group, SAMPLE, 'WITHVALUES')
  for i = 1, #sample, 2 do
    local at = expiry(sample[i + 1])
    if at ~= 0 and at <= now then
      redis.call('HDEL', group, sample[i])
    end
  end
  if written == 0 then
    redis.call('PERSIST', group)
  else
    local want = written - now + grace
    local left = redis.call('PTTL', group)
    if left ~= -1 and left < want then
      redis.call('PEXPIRE', group, string.format('%d', want))
    end
  end
end
";

/// `HSET` of fields of one group, then settles it. KEYS[1]: the group. ARGV: now (ms),
/// grace (ms), then field and value pairs.
pub(super) static PUT_FIELDS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}
local group, now, grace = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local written = 0
for i = 3, #ARGV, 2 do
  redis.call('HSET', group, ARGV[i], ARGV[i + 1])
  local at = expiry(ARGV[i + 1])
  if at == 0 or written == -1 then
    written = -1
  elseif at > written then
    written = at
  end
end
settle(group, now, grace, math.max(written, 0))
return 0
",
        SETTLE.as_str()
    )
});

/// Stores a field unless it holds a live value. KEYS[1]: the group. ARGV: now, grace,
/// field, value. Returns 1 if stored, 0 if not.
pub(super) static INSERT_FIELD_IF_ABSENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "{}
local group, now, grace = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local current = redis.call('HGET', group, ARGV[3])
if current then
  local at = expiry(current)
  if at == 0 or at > now then
    return 0
  end
end
redis.call('HSET', group, ARGV[3], ARGV[4])
settle(group, now, grace, expiry(ARGV[4]))
return 1
",
            SETTLE.as_str()
        )
    });

/// Adds to a counter field; a new counter (none, or an expired one) starts from zero with
/// the given expiry, an existing one keeps its own. KEYS[1]: the group. ARGV: now, grace,
/// field, increment, the new counter's 8-byte expiry. Returns the new count; fails when
/// the field holds something that is not a counter.
pub(super) static INCR_FIELD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}
local group, now, grace = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local current = redis.call('HGET', group, ARGV[3])
local head, count = ARGV[5], 0
if current then
  local at = expiry(current)
  if at == 0 or at > now then
    local text = string.sub(current, 9)
    if not string.find(text, '^%-?%d+$') then
      return redis.error_reply('ERR value is not an integer or out of range')
    end
    head, count = string.sub(current, 1, 8), tonumber(text)
  end
end
count = count + tonumber(ARGV[4])
redis.call('HSET', group, ARGV[3], head .. string.format('%d', count))
settle(group, now, grace, expiry(head))
return count
",
        SETTLE.as_str()
    )
});

/// `INCRBY` of a counter in a string key of its own; a new counter gets the TTL. KEYS[1]:
/// the key. ARGV: increment, TTL in ms (empty for none). Returns the new count.
pub(super) const INCR_PLAIN: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return count
";
