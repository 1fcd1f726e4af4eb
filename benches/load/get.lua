-- wrk script for GET runs: prints one machine-readable summary line ("@@ key=value ...").
--
-- With CHECK_TEXT set (warm-up runs), every answer must have status CHECK_STATUS
-- (default 200) and contain CHECK_TEXT; the summary then counts the answers that did not
-- ("mismatches"). Measured runs leave CHECK_TEXT unset, so wrk never hands bodies to Lua.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local check_text = os.getenv("CHECK_TEXT")
if check_text and check_text ~= "" then
  local check_status = tonumber(os.getenv("CHECK_STATUS") or "200")
  mismatches = 0
  function response(status, headers, body)
    if status ~= check_status or not string.find(body, check_text, 1, true) then
      mismatches = mismatches + 1
    end
  end
end

function done(summary, latency, requests)
  local mismatches = 0
  for _, thread in ipairs(threads) do
    mismatches = mismatches + (thread:get("mismatches") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "@@ requests=%d duration_us=%d bytes=%d errors_connect=%d errors_read=%d " ..
    "errors_write=%d errors_status=%d errors_timeout=%d mismatches=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, mismatches, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
