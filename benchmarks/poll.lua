-- wrk script for benchmarks/poll.py: each request carries the next of the session cookies
-- given after `--` (round robin, so 50 cookies are 50 signed-in browsers) and the ETag of the
-- thread's last 200 in If-None-Match, as a browser's cache sends it; other headers come from
-- wrk's -H, and an If-None-Match among them is the cache's entry at the start. done() prints one line, "POLL {json}": requests, duration and latency in us, and
-- the answers by status code (wrk's own tally only separates 2xx/3xx from the rest).
-- Written for the wrk 4.1 in Debian (LuaJIT); see wrk's SCRIPTING file for the hooks.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local cookies, next_cookie, etag = {}, 1, nil
statuses = {} -- global: done() reads it from each thread with thread:get

function init(args)
  etag = wrk.headers["If-None-Match"]
  for _, cookie in ipairs(args) do
    table.insert(cookies, cookie)
  end
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do -- wrk.format uses these only when given none
    headers[name] = value
  end
  if #cookies > 0 then
    headers["Cookie"] = cookies[next_cookie]
    next_cookie = next_cookie % #cookies + 1
  end
  headers["If-None-Match"] = etag
  return wrk.format(nil, nil, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    etag = headers["ETag"] or headers["etag"]
  end
end

function done(summary, latency, requests)
  local answers = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      answers[status] = (answers[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(answers) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'POLL {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.connect + errors.read + errors.write + errors.timeout,
    table.concat(parts, ", ")
  ))
end
