-- wrk: POST Infobip-shaped envelopes with a unique messageId per result (so dedup never short-cuts).
-- Environment: BENCH_PATH, BENCH_BATCH (results per request), BENCH_PREFIX (unique per run), BENCH_BAD_EVERY
-- (when set, every Nth result lacks its messageId: unreadable, so the receiver quarantines it as sent).
local path = os.getenv("BENCH_PATH")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local prefix = os.getenv("BENCH_PREFIX") or "m"
local bad_every = tonumber(os.getenv("BENCH_BAD_EVERY") or "0")
local counter = 0
local template = '{"messageId":"%s-%d","pairedMessageId":"1234984815238926403",' ..
  '"from":"69827EDB-A806-4AF6-A7F6-98298EAA4F14","subscriberId":"123","to":"8a9b7c6d5e4f",' ..
  '"applicationCode":"8a9b7c6d5e4f","receivedAt":"2017-01-05T12:47:56.221+0000",' ..
  '"callbackData":"callbackData","text":"KEYWORD some text","cleanText":"some text",' ..
  '"keyword":"KEYWORD","customPayload":{"key1":1,"key2":2}}'
local headers = {["Content-Type"] = "application/json"}

request = function()
  local results = {}
  for i = 1, batch do
    counter = counter + 1
    results[i] = string.format(template, prefix, counter)
    if bad_every > 0 and counter % bad_every == 0 then
      results[i] = string.gsub(results[i], '"messageId":"[^"]*",', '', 1)
    end
  end
  local body = '{"results":[' .. table.concat(results, ",") .. '],"messageCount":' .. batch ..
    ',"pendingMessageCount":0}'
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"errors_status\":%d," ..
    "\"errors_connect\":%d,\"errors_timeout\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
