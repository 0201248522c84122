-- wrk script for bench/votes_bench.py. Environment:
--   BENCH_MODE=vote   POST /api/votes/, each request from the next voter of BENCH_TOKENS (one bearer token a
--                     line), on BENCH_POLL_ID, choices BENCH_CHOICE_IDS (comma-separated) in turn
--   BENCH_MODE=read   GET BENCH_PATH
--   BENCH_DELAY_MS    a pause before each request of a connection, on average: an offered rate instead of a closed loop
-- Each thread takes every n-th token, so no voter votes twice in one run. done() prints one JSON line.

local mode = os.getenv("BENCH_MODE") or "vote"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + index)
  statuses = {}
  requests_sent = 0
  if mode == "vote" then
    local thread_count = tonumber(os.getenv("BENCH_THREADS"))
    tokens = {}
    local line_number = 0
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      if line_number % thread_count == index then
        table.insert(tokens, line)
      end
      line_number = line_number + 1
    end
    choices = {}
    for choice in string.gmatch(os.getenv("BENCH_CHOICE_IDS"), "[^,]+") do
      table.insert(choices, choice)
    end
    poll_id = os.getenv("BENCH_POLL_ID")
  else
    path = os.getenv("BENCH_PATH")
  end
end

function request()
  requests_sent = requests_sent + 1
  if mode == "read" then
    return wrk.format("GET", path)
  end
  local token = tokens[requests_sent]
  if token == nil then
    -- Out of voters: a request that is sure to be refused, counted apart so the bench sizes its token file.
    token = "exhausted"
  end
  local body = '{"poll_id":"' .. poll_id .. '","choice_id":"' .. choices[(requests_sent % #choices) + 1] .. '"}'
  return wrk.format("POST", "/api/votes/", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

if delay_ms > 0 then
  -- Exponential pauses (their mean BENCH_DELAY_MS): connections paced alike would stay in step and send their
  -- requests in bursts, each burst queueing behind itself.
  function delay()
    return -delay_ms * math.log(1 - math.random())
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"socket_errors":%d,"timeouts":%d,' ..
    '"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"statuses":{%s}}\n',
    summary.duration, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, table.concat(parts, ",")))
end
