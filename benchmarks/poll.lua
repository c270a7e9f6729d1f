-- wrk script for benchmarks/poll.py: each request is the next of the browsers given after `--`
-- (round robin, so 50 of them are 50 signed-in browsers), each "<Cookie header>\t<ETag>": the
-- request carries that cookie and, in If-None-Match, that ETag (the browser cache's entry; the
-- job does not change during a run, and an ETag is per session). Other headers come from wrk's
-- -H. done() prints one line, "POLL {json}": requests, duration and latency in us, and the
-- answers by status code (wrk's own tally only separates 2xx/3xx from the rest).
-- Written for the wrk 4.1 in Debian (LuaJIT); see wrk's SCRIPTING file for the hooks.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local browsers, next_browser = {}, 1
statuses = {} -- global: done() reads it from each thread with thread:get

function init(args)
  for _, browser in ipairs(args) do
    local cookie, etag = browser:match("^([^\t]*)\t(.*)$")
    table.insert(browsers, { cookie = cookie, etag = etag })
  end
end

function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do -- wrk.format uses these only when given none
    headers[name] = value
  end
  local browser = browsers[next_browser]
  next_browser = next_browser % #browsers + 1
  headers["Cookie"] = browser.cookie
  if browser.etag ~= "" then
    headers["If-None-Match"] = browser.etag
  end
  return wrk.format(nil, nil, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
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
