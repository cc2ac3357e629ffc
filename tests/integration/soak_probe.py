"""What a long-running Prosody holds that the module could grow, read
through the admin shell (test_soak.py): Lua heap, the tracker's totals,
timers pending in net.server, handlers on the host's and the global
events, filters on the sessions, prosody.* tables the module adds."""

import re

PROBE = (
    ">collectgarbage('collect'); collectgarbage('collect'); "
    "local r = {}; r[#r+1] = ('heap=%.0f'):format(collectgarbage('count')); "
    "local function handlers(ev) local n, e = 0, 0; "
    "for _, hs in pairs(ev._event_map or {}) do e = e + 1; for _ in pairs(hs) do n = n + 1 end end; "
    "return n, e end; "
    "local hn, he = handlers(prosody.hosts[HOST].events); "
    "local gn, ge = handlers(prosody.events); "
    "r[#r+1] = 'host_handlers=' .. hn; r[#r+1] = 'host_events=' .. he; "
    "r[#r+1] = 'global_handlers=' .. gn; r[#r+1] = 'global_events=' .. ge; "
    "local s = require'net.server'; local add = (s.timer and s.timer.add_task) or s.add_task; "
    "local timers; for i = 1, 60 do local k, v = debug.getupvalue(add, i); if not k then break end; "
    "if k == 'timers' or k == 'h' then timers = v end end; "
    "local nt = -1; if type(timers) == 'table' and timers.items then nt = 0; "
    "for _ in pairs(timers.items) do nt = nt + 1 end end; r[#r+1] = 'timers=' .. nt; "
    "local ns, nf = 0, 0; for _, sess in pairs(prosody.full_sessions) do ns = ns + 1; "
    "local f = sess.filters; if type(f) == 'table' then for _, l in pairs(f) do "
    "if type(l) == 'table' then nf = nf + #l end end end end; "
    "r[#r+1] = 'sessions=' .. ns; r[#r+1] = 'filters=' .. nf; "
    "local np = 0; for k, v in pairs(prosody) do if type(k) == 'string' and k:find('mucjoins') then "
    "np = np + 1; if type(v) == 'table' then local c = 0; for _ in pairs(v) do c = c + 1 end; "
    "r[#r+1] = k .. '=' .. c end end end; r[#r+1] = 'prosody_keys=' .. np; "
    "local nm = 0; for _ in pairs(prosody.hosts[HOST].modules) do nm = nm + 1 end; "
    "r[#r+1] = 'modules=' .. nm; "
    "local pl = 0; for _ in pairs(package.loaded) do pl = pl + 1 end; r[#r+1] = 'package_loaded=' .. pl; "
    "return 'PROBE ' .. table.concat(r, ' ')")


def probe(server, host="localhost"):
    """A dict of figures (numbers), tracker totals included."""
    rc, out = server.admin(PROBE.replace("HOST", repr(host)), timeout=120)
    m = re.search(r"PROBE (.*)", out)
    assert m, f"probe failed:\n{out}"
    got = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", m.group(1))}
    rc, out = server.admin(f"muc_joins:stats({host!r})", timeout=60)
    for k, v in re.findall(r"^\|?\s*(\w+)\s+(\d+)\s*$", out, re.M):
        got["t_" + k] = float(v)
    return got


def show(label, p):
    keys = ["heap", "t_bytes", "t_sessions", "t_rooms_shown", "timers", "host_handlers",
            "host_events", "global_handlers", "global_events", "sessions", "filters",
            "prosody_keys", "mucjoins_binding_files", "modules", "package_loaded"]
    print(f"\nsoak {label:34s} " + " ".join(f"{k}={p.get(k, float('nan')):.0f}" for k in keys),
          flush=True)
