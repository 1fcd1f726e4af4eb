-- wrk script for sign-in loops: POST /session with a fixed cookie and CSRF token pair.
--
-- Environment: SIGNIN_COOKIE (Cookie header of a session that holds the CSRF secret),
-- SIGNIN_TOKEN (a CSRF token for it), SIGNIN_EMAIL and SIGNIN_PASSWORD. The session never
-- takes the answer's cookies, so every request is a fresh sign-in attempt that does the
-- full password-hash work, whether the password is right (302) or wrong (200).
-- Prints one machine-readable summary line ("@@ key=value ...") with a count per status.

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function required(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error(name .. " is not set")
  end
  return value
end

wrk.method = "POST"
wrk.path = "/session"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = required("SIGNIN_COOKIE")
wrk.body = "_csrf_token=" .. urlencode(required("SIGNIN_TOKEN")) ..
  "&" .. urlencode("user[email]") .. "=" .. urlencode(required("SIGNIN_EMAIL")) ..
  "&" .. urlencode("user[password]") .. "=" .. urlencode(required("SIGNIN_PASSWORD"))

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

status_200, status_302, status_503, status_other = 0, 0, 0, 0

function response(status, headers, body)
  if status == 200 then
    status_200 = status_200 + 1
  elseif status == 302 then
    status_302 = status_302 + 1
  elseif status == 503 then
    status_503 = status_503 + 1
  else
    status_other = status_other + 1
  end
end

function done(summary, latency, requests)
  local counts = { status_200 = 0, status_302 = 0, status_503 = 0, status_other = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(counts) do
      counts[name] = counts[name] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    "@@ requests=%d duration_us=%d bytes=%d errors_connect=%d errors_read=%d " ..
    "errors_write=%d errors_status=%d errors_timeout=%d status_200=%d status_302=%d " ..
    "status_503=%d status_other=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, counts.status_200, counts.status_302, counts.status_503,
    counts.status_other, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
