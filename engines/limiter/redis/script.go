package redis

// The decision script. It is the local engine's algorithm (see the package
// documentation) in Redis Lua, where every number is a double: integers are
// exact below 2^53 and every product that could pass that goes through
// muldiv, which computes floor(a*b/c) and the remainder exactly. Times are
// nanoseconds, now is the server's TIME (microseconds) times 1000; values
// written to Redis go through num() because Redis's own conversion of a Lua
// number keeps only 14 significant digits.
//
// KEYS[1] is the key's state, a hash:
//
//	a   algorithm of the state: 0 sliding window, 1 GCRA
//	u   unit the state was built with: the window (sliding window) or the
//	    emission interval T (GCRA), in ns
//	w   sliding window: index of the current fixed window (now div window)
//	p   sliding window: admissions in window w-1
//	c   sliding window: admissions in window w
//	ts  GCRA: theoretical arrival time, whole microseconds since the epoch
//	tn  GCRA: the TAT's nanoseconds beyond ts (0..999)
//
// ARGV: algorithm, limit, window (ns), unit (ns: the window, or T).
//
// The reply is {allowed (0/1), remaining, now (µs), reset, retry}: reset and
// retry are nanoseconds from now.

// helpersLua holds the arithmetic; tests run it alone against math/big.
const helpersLua = `
local P52 = 4503599627370496 -- 2^52
local MAXDEBT = 2 * P52      -- GCRA debt saturation (local engine: 2^61)
local MAXCOUNT = P52 / 2     -- carried count saturation (above any limit)

-- floor(a/b) and a mod b, exact for integers 0 <= a <= 2^52, 0 < b <= 2^52.
local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then
    q, r = q - 1, r + b
  elseif r >= b then
    q, r = q + 1, r - b
  end
  return q, r
end

-- floor(a*b/c) and (a*b) mod c, exact for integers 0 <= a, b <= 2^52,
-- 0 < c <= 2^52 whose quotient is below 2^53: binary long multiplication
-- keeping the partial product as quotient and remainder of c.
local function muldiv(a, b, c)
  local p = a * b
  if p < P52 then
    return divmod(p, c)
  end
  local bq, br = divmod(b, c)
  local q, r = 0, 0
  local bit = P52
  while bit > a do
    bit = bit / 2
  end
  while bit >= 1 do
    q, r = q * 2, r * 2
    if r >= c then
      q, r = q + 1, r - c
    end
    if a >= bit then
      a = a - bit
      q, r = q + bq, r + br
      if r >= c then
        q, r = q + 1, r - c
      end
    end
    bit = bit / 2
  end
  return q, r
end

-- ceil(a*b/c), same bounds as muldiv.
local function ceilmuldiv(a, b, c)
  local q, r = muldiv(a, b, c)
  if r > 0 then
    q = q + 1
  end
  return q
end

-- x (ns, >= 0) rounded up to a whole microsecond: the resolution of TIME,
-- so the first instant Redis can see at or after x.
local function ceilus(x)
  if x > P52 then
    return x
  end
  local q, r = divmod(x, 1000)
  if r > 0 then
    q = q + 1
  end
  return q * 1000
end

local function num(x)
  return string.format('%.0f', x)
end
`

const decideLua = `
local key = KEYS[1]
local algo = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local W = tonumber(ARGV[3])
local unit = tonumber(ARGV[4])

local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2]) -- µs

-- now (in ns) div w and mod w: the index of now's fixed window and how far
-- into it now is. A window of whole microseconds needs no long
-- multiplication.
local function windowOf(w)
  local wq, wr = divmod(w, 1000)
  if wr == 0 then
    local q, r = divmod(now, wq)
    return q, r * 1000
  end
  return muldiv(now, 1000, w)
end

-- GCRA debt TAT - now in ns, 0 if the TAT has passed.
local function debtOf(ts, tn)
  local d = (ts - now) * 1000 + tn
  if d < 0 then
    return 0
  end
  return d
end

-- ceil(effective count) at now of a sliding-window state with window w.
local function slidingCount(w, win, prev, cur)
  local idx, el = windowOf(w)
  if idx == win + 1 then
    prev, cur = cur, 0
  elseif idx > win + 1 then
    return 0
  elseif idx < win then
    el = 0
  end
  return cur + ceilmuldiv(prev, w - el, w)
end

-- now + d (ns, 0 <= d <= 2^53) as ts, tn.
local function tatAfter(d)
  if d > P52 then
    return now + math.floor(d / 1000), 0
  end
  local q, r = divmod(d, 1000)
  return now + q, r
end

local st = redis.call('HMGET', key, 'a', 'u', 'w', 'p', 'c', 'ts', 'tn')
local sa, su = tonumber(st[1]), tonumber(st[2])
local win, prev, cur, ts, tn
local changed, reset = false, false

if sa == nil then
  -- A fresh key.
  if algo == 0 then
    win = windowOf(W)
    prev, cur = 0, 0
  else
    ts, tn = 0, 0
  end
elseif sa == algo and su == unit then
  if algo == 0 then
    win, prev, cur = tonumber(st[3]), tonumber(st[4]), tonumber(st[5])
  else
    ts, tn = tonumber(st[6]), tonumber(st[7])
  end
elseif sa == 1 and algo == 1 then
  -- A reload changed T: the outstanding requests stay outstanding.
  ts, tn = tonumber(st[6]), tonumber(st[7])
  local d = debtOf(ts, tn)
  if d > 0 then
    if d >= P52 or d * unit / su >= P52 then
      d = MAXDEBT
    else
      d = muldiv(d, unit, su)
    end
    ts, tn = tatAfter(d)
  end
  changed = true
else
  -- A reload changed the window or the algorithm: carry the count.
  local count = 0
  if sa == 1 then
    local d = debtOf(tonumber(st[6]), tonumber(st[7]))
    if d >= P52 then
      count = MAXCOUNT
    elseif d > 0 then
      count = ceilmuldiv(d, 1, su)
    end
  else
    count = slidingCount(su, tonumber(st[3]), tonumber(st[4]), tonumber(st[5]))
  end
  if count > MAXCOUNT then
    count = MAXCOUNT
  end
  if algo == 0 then
    win = windowOf(W)
    prev, cur = 0, count
  elseif count > 0 then
    local d = count * unit
    if d >= P52 then
      d = MAXDEBT
    end
    ts, tn = tatAfter(d)
  else
    ts, tn = 0, 0
  end
  changed, reset = true, true
end

local function save(fields, ttl)
  if reset then
    redis.call('DEL', key)
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('PEXPIRE', key, num(math.floor(ttl / 1000000) + 1))
end

if algo == 0 then
  local idx, el = windowOf(W)
  local base = -el -- start of the current window, ns from now
  if idx == win then
  elseif idx == win + 1 then
    prev, cur, win = cur, 0, idx
  elseif idx > win + 1 then
    prev, cur, win = 0, 0, idx
  else
    -- The clock stepped back behind the key's window: decide as at its start.
    base = (win - idx) * W - el
    el = 0
  end
  -- effective = prev*(W-el)/W + cur; admitted while effective < limit, that
  -- is while floor(prev*(W-el)/W) < limit - cur.
  local q = muldiv(prev, W - el, W)
  if q < limit - cur then
    save({'a', 0, 'u', num(W), 'w', num(win), 'p', num(prev), 'c', num(cur + 1)}, base + 2 * W)
    return {1, limit - cur - q - 1, now, base + W, 0}
  end
  if changed then
    save({'a', 0, 'u', num(W), 'w', num(win), 'p', num(prev), 'c', num(cur)}, base + 2 * W)
  end
  local at
  if cur < limit then
    -- Within this window: prev*(W-t) < (limit-cur)*W.
    at = base + W - ceilmuldiv(limit - cur, W, prev) + 1
  else
    -- In the next one, where cur is the previous count: cur*(W-t) < limit*W.
    at = base + 2 * W - ceilmuldiv(limit, W, cur) + 1
  end
  at = ceilus(at)
  return {0, 0, now, at, at}
end

local T = unit
local tau = (limit - 1) * T
local debt = debtOf(ts, tn)
if debt <= tau then
  local d = debt + T
  local nts, ntn = tatAfter(d)
  save({'a', 1, 'u', num(T), 'ts', num(nts), 'tn', num(ntn)}, d + W)
  local rem = divmod(limit * T - d, T)
  return {1, rem, now, d, 0}
end
if changed then
  save({'a', 1, 'u', num(T), 'ts', num(ts), 'tn', num(tn)}, debt + W)
end
local at = ceilus(debt - tau)
return {0, 0, now, at, at}
`

// scriptSource is the script Redis runs.
const scriptSource = helpersLua + decideLua
