-- wrk script: POST transfers to the URL given to wrk (the ledger's transaction endpoint,
-- the empty endpoint, which gets the same bodies, the deposit surface's
-- transactions/create, or the ledger's transaction/batch).
--
-- Arguments (after wrk's `--`): ACCOUNTS_FILE MODE TAG
--   ACCOUNTS_FILE  first line the client's API key, then one account token a line;
--                  the first account is the hot one
--   MODE           spread | hot | replay | deposit (a spread of deposit transfers, each
--                  with a fee, keyed by `Authorization: Token`) | bulk | bulk-atomic
--                  (1,000 spread transfers per request, `"atomic": false` or true; the
--                  items of each answer 200 are counted by their "status")
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
local bulk_items = 1000
local bulk, atomic = false, "false"
-- Globals, read by `done` through thread:get: responses by status, replays sent, and the
-- items of batches answered 200 by status.
counts = {}
replays = 0
items = {}

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
  assert(mode == "spread" or mode == "hot" or mode == "replay" or mode == "deposit"
    or mode == "bulk" or mode == "bulk-atomic",
    "MODE: spread, hot, replay, deposit, bulk or bulk-atomic")
  bulk = mode == "bulk" or mode == "bulk-atomic"
  if mode == "bulk-atomic" then
    atomic = "true"
  end
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

-- One body of POST /transaction, between two random accounts, with a new token.
local function transfer_body()
  counter = counter + 1
  local origin, destination = pick_pair()
  return string.format(
    '{"origin_account": "%s", "destination_account": "%s", "amount": "%s", '
      .. '"description": "bench", "unique_transfer_token": "%s.%d.%d"}',
    origin, destination, pesos(math.random(100, 1000)), tag, id, counter)
end

local function bulk_request()
  local bodies = {}
  for index = 1, bulk_items do
    bodies[index] = transfer_body()
  end
  local body = '{"transactions": [' .. table.concat(bodies, ", ")
    .. '], "atomic": ' .. atomic .. '}'
  return wrk.format("POST", nil, headers, body)
end

local function new_request()
  if bulk then
    return bulk_request()
  end
  if mode ~= "deposit" then
    return wrk.format("POST", nil, headers, transfer_body())
  end
  -- A deposit transfer, with a fee of 0.10 to 1.00 pesos posted with it.
  counter = counter + 1
  local origin, destination = pick_pair()
  -- Centavos from 100 to 1000: 1.00 to 10.00 pesos.
  local amount = pesos(math.random(100, 1000))
  local body = string.format(
    '{"unique_transfer_token": "%s.%d.%d", "origin_account": "%s", '
      .. '"destination_account": "%s", "amount": "%s", "fee_amount": "%s", '
      .. '"description": "bench", "channel": "bench"}',
    tag, id, counter, origin, destination, amount, pesos(math.random(10, 100)))
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
  if bulk and status == 200 then
    -- Each item of "results" has a numeric "status"; nothing else in the answer has.
    for item in string.gmatch(body, '"status"%s*:%s*(%d+)') do
      local code = tonumber(item)
      items[code] = (items[code] or 0) + 1
    end
  end
end

function done(summary, latency, requests)
  local statuses = {}
  local item_statuses = {}
  local replayed = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
    for status, count in pairs(thread:get("items") or {}) do
      item_statuses[status] = (item_statuses[status] or 0) + count
    end
    replayed = replayed + (thread:get("replays") or 0)
  end
  local function as_json(counted)
    local parts = {}
    for status, count in pairs(counted) do
      table.insert(parts, string.format('"%d": %d', status, count))
    end
    return table.concat(parts, ", ")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "statuses": {%s}, "items": {%s}, '
      .. '"replays_sent": %d, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, as_json(statuses), as_json(item_statuses), replayed,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
