-- wrk script for benches/soak.sh: a steady, bounded load over the seeded
-- users (ids 1..5), with a pause per connection so the APM test agent (a
-- Python program) keeps up and counts can be compared.
local id = 0
request = function()
    id = id % 5 + 1
    return wrk.format("GET", "/users/" .. id)
end
delay = function()
    return tonumber(os.getenv("SOAK_DELAY_MS") or "20")
end
