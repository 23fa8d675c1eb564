-- wrk script: POST transfers to the URL given to wrk (the ledger's transaction endpoint,
-- the empty endpoint, which gets the same bodies, or the deposit surface's
-- transactions/create).
--
-- Arguments (after wrk's `--`): ACCOUNTS_FILE MODE TAG
--   ACCOUNTS_FILE  first line the client's API key, then one account token a line;
--                  the first account is the hot one
--   MODE           spread | hot | replay | deposit (a spread of deposit transfers, each
--                  with a fee, keyed by `Authorization: Token`)
--   TAG            unique to this wrk run; with the thread number and a counter it makes
--                  every unique_transfer_token of the bench unique
--
-- `done` prints one line: BENCH-JSON {...}, read by bench/load.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local mode, tag
local tokens = {}
local headers = {}
local counter = 0
local history = {}
local history_size = 1000
-- Globals, read by `done` through thread:get: responses by status, replays sent.
counts = {}
replays = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  local key = file:read("*l")
  for line in file:lines() do
    if line ~= "" then
      table.insert(tokens, line)
    end
  end
  file:close()
  mode, tag = args[2], args[3]
  assert(#tokens >= 2, "at least two accounts are needed")
  assert(mode == "spread" or mode == "hot" or mode == "replay" or mode == "deposit",
    "MODE: spread, hot, replay or deposit")
  headers["Content-Type"] = "application/json"
  if mode == "deposit" then
    headers["Authorization"] = "Token " .. key
  else
    headers["X-Account-api-key"] = key
  end
  math.randomseed(os.time() * 1000 + id)
end

local function pick_pair()
  local origin
  if mode == "hot" then
    origin = 1
  else
    origin = math.random(#tokens)
  end
  -- Any other account: draw from the others, shifting past the origin.
  local destination = math.random(#tokens - 1)
  if destination >= origin then
    destination = destination + 1
  end
  return tokens[origin], tokens[destination]
end

-- Pesos with two decimals, formatted from whole centavos.
local function pesos(cents)
  return string.format("%d.%02d", (cents - cents % 100) / 100, cents % 100)
end

local function new_request()
  counter = counter + 1
  local origin, destination = pick_pair()
  -- Centavos from 100 to 1000: 1.00 to 10.00 pesos.
  local amount = pesos(math.random(100, 1000))
  local body
  if mode == "deposit" then
    -- A fee of 0.10 to 1.00 pesos, posted with the transfer.
    body = string.format(
      '{"unique_transfer_token": "%s.%d.%d", "origin_account": "%s", '
        .. '"destination_account": "%s", "amount": "%s", "fee_amount": "%s", '
        .. '"description": "bench", "channel": "bench"}',
      tag, id, counter, origin, destination, amount, pesos(math.random(10, 100)))
  else
    body = string.format(
      '{"origin_account": "%s", "destination_account": "%s", "amount": "%s", '
        .. '"description": "bench", "unique_transfer_token": "%s.%d.%d"}',
      origin, destination, amount, tag, id, counter)
  end
  return wrk.format("POST", nil, headers, body)
end

function request()
  if mode == "replay" and #history > 0 and math.random(10) == 1 then
    replays = replays + 1
    return history[math.random(#history)]
  end
  local made = new_request()
  if mode == "replay" then
    history[(counter - 1) % history_size + 1] = made
  end
  return made
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local statuses = {}
  local replayed = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
    replayed = replayed + (thread:get("replays") or 0)
  end
  local parts = {}
  for status, count in pairs(statuses) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "statuses": {%s}, "replays_sent": %d, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, table.concat(parts, ", "), replayed,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
