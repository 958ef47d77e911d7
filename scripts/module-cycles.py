#!/usr/bin/env python3
"""Finds import cycles between the library's modules (one node per file; `mod.rs` is its
directory's module). Prints each cycle with its edges and exits 1 when there is one.

    python3 scripts/module-cycles.py [src] [-v]   (-v: every edge)

Edges are `use` paths and `crate::`/`super::`/`self::` paths in code (comments and the
`#[cfg(test)] mod tests` at the end of a file left out); a parent declaring its children is
not an edge."""
import os, re, sys, itertools
args = [a for a in sys.argv[1:] if not a.startswith('-')]
root = args[0] if args else 'src'
mods = {}
for dp, dn, fn in os.walk(root):
    if '/bin' in dp: continue
    for f in fn:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)[:-3]
        parts = rel.split('/')
        if parts[-1] in ('mod', 'lib'): parts = parts[:-1]
        mods[tuple(parts)] = open(p).read()
known = set(mods)
def node(path):
    # longest known prefix, then collapse to level: top-level, except server/fs/http/response/input/middleware -> second level
    for i in range(len(path), 0, -1):
        if tuple(path[:i]) in known:
            t = tuple(path[:i]); break
    else:
        return None
    return '::'.join(t)
def strip_comments(s):
    s = re.sub(r'//[^\n]*', '', s)
    return s
def expand_use(tree):
    # expand a::{b, c::{d}} into lists
    tree = tree.replace(' ', '').replace('\n', '')
    out = []
    def rec(prefix, t):
        if not t: return
        if t.startswith('{'):
            depth = 0; items=[]; cur=''
            for ch in t[1:-1]:
                if ch == '{': depth += 1
                if ch == '}': depth -= 1
                if ch == ',' and depth == 0: items.append(cur); cur=''
                else: cur += ch
            items.append(cur)
            for it in items: rec(prefix, it)
            return
        m = re.match(r'([A-Za-z_0-9]+)(::(.*))?$', t)
        if not m:
            if t.startswith('self'): out.append(prefix); return
            out.append(prefix); return
        head, rest = m.group(1), m.group(3)
        if head == 'self': out.append(prefix); return
        if rest is None: out.append(prefix + [head]); return
        rec(prefix + [head], rest)
    rec([], tree)
    return out
edges = {}
for m, src in mods.items():
    s = strip_comments(src)
    # drop cfg(test) modules roughly: cut from '#[cfg(test)]\nmod tests' to end
    i = s.find('#[cfg(test)]\nmod tests')
    if i >= 0: s = s[:i]
    a = node(list(m)) if m else 'lib'
    paths = []
    inline0 = [x.start() for x in re.finditer(r'\bmod\s+\w+\s*\{', s)]
    for u in re.finditer(r'\buse\s+([^;]+);', s):
        for p in expand_use(u.group(1)):
            if p and p[0] == 'super' and inline0 and u.start() > inline0[0]:
                p = ['self'] + p[1:]
            paths.append(p)
    inline = [x.start() for x in re.finditer(r'\bmod\s+\w+\s*\{', s)]
    for u in re.finditer(r'\b((?:crate|super|self)(?:::[A-Za-z_0-9]+)+)', s):
        parts = u.group(1).split('::')
        if parts[0] == 'super' and inline and u.start() > inline[0]:
            parts = ['self'] + parts[1:]
        paths.append(parts)
    for p in paths:
        if not p: continue
        if p[0] == 'crate': q = p[1:]
        elif p[0] == 'super':
            base = list(m) if m and m[-1] != '' else []
            # file module: super = parent of this module
            q = base[:-1]; rest = p[1:]
            while rest and rest[0] == 'super': q = q[:-1]; rest = rest[1:]
            q = q + rest
        elif p[0] == 'self': q = list(m) + p[1:]
        else: continue
        b = node(q)
        if b and a and b != a:
            edges.setdefault(a, set()).add(b)
# tarjan
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
sys.setrecursionlimit(10000)
allnodes = set(edges) | {b for bs in edges.values() for b in bs}
for v in sorted(allnodes):
    if v not in idx: sc(v)
found = False
for comp in sccs:
    if len(comp) > 1:
        found = True
        print('CYCLE:', sorted(comp))
        for a in sorted(comp):
            print('   ', a, '->', sorted(b for b in edges.get(a, ()) if b in comp))
if '-v' in sys.argv:
    for a in sorted(edges): print(a, '->', sorted(edges[a]))

sys.exit(1 if found else 0)
