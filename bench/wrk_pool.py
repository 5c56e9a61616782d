"""wrk Lua for scenarios that spend one-use values (refresh tokens, client assertions) from a pool file.

The harness writes a fresh pool (one value per line, at least one per connection) before each run; the
shared prologue deals it out to wrk's threads, so a value is in at most one request; the ones in flight when
wrk stops are lost (hence a new pool every run). Each script is a ``str.format`` template: ``pool_file`` and
``threads`` (and whatever its own part names) are filled in by bench/run.py.
"""

from __future__ import annotations

POOL_PROLOGUE = """\
local pool_file = {pool_file}
local nthreads = {threads}
local all_tokens = nil

function setup_thread(thread, n)
  if all_tokens == nil then
    all_tokens = {{}}
    for line in io.lines(pool_file) do
      if line ~= "" then table.insert(all_tokens, line) end
    end
  end
  local mine = {{}}
  for i, t in ipairs(all_tokens) do
    if (i - 1) % nthreads == n - 1 then table.insert(mine, t) end
  end
  thread:set("pool", mine)
end
"""


def rotating_chain(body: str, reply_field: str) -> str:
    """A script where each request spends a token and its 200 reply's ``reply_field`` goes back in the pool
    (every connection follows its own rotation chain). ``body`` is a Lua expression of the token ``t``."""
    return POOL_PROLOGUE + f"""
function request()
  local t = table.remove(pool)
  if t == nil then t = "pool-exhausted" end
  return wrk.format(nil, nil, nil, {body})
end

function after_response(status, body)
  if status == 200 then
    local t = string.match(body or "", '"{reply_field}"%s*:%s*"([^"]+)"')
    if t then table.insert(pool, t) end
  end
end
"""


#: one-use values sent after a fixed ``prefix`` (a Lua string filled in by the harness); nothing comes back
SPEND_ONCE = POOL_PROLOGUE + """
local prefix = {prefix}

function request()
  local t = table.remove(pool)
  if t == nil then t = "pool-exhausted" end
  return wrk.format(nil, nil, nil, prefix .. t)
end
"""
