#!/usr/bin/env python3
"""Checks the library's module layering against the layer table in DESIGN.md.

    python3 scripts/layers.py [-v] [--graph] [--no-fuzzing] [--design PATH] [--src PATH]

It builds an import graph with one node per source file of the library (`src/`, without
`src/bin/`; a `mod.rs` is its directory's module, `lib.rs` the crate root; an inline
`mod x { .. }` belongs to its file). An edge is a `use` (nested trees, `self`, `as`,
globs) or a path in code that starts with `crate::`, `super::`, `self::`, a child module's
name or a name brought in by a `use`. Each path is resolved to the file that defines what
it names, through re-exports (`pub use`, chains of them, globs): `crate::spawn_blocking`
is `src/task.rs` when lib.rs has `pub use task::spawn_blocking;`. A name another crate
defines is no edge, also when this crate re-exports it. Comments, string and char
literals and items under `#[cfg(test)]` are left out; items under `#[cfg(fuzzing)]` count
unless `--no-fuzzing` (which also leaves out the files declared only for it). Items under
any other cfg all count, whichever way the cfg goes.

The layer table is the first fenced code block after the line starting with `## Layout` in
DESIGN.md. Each line that does not start with whitespace is one layer, lowest first:

    src/http/ src/{escape,state}.rs     pure parts
    src/response/ src/request.rs        the framework, with
                                        a continued description
    src/server/                         serving it
    src/server/fuzz.rs                  the fuzzing harness (a layer of its own)
    src/lib.rs                          the face

An entry is a folder (`src/http/`: every file under it) or a file (`src/lib.rs`); braces
stand for several (`src/{a,b}.rs`). Two or more spaces end the entries and start the
description; indented lines continue a description; lines whose first entry is not under
`src/` are ignored. A file belongs to its most specific (longest) entry. A file may import
files of its own layer and of the layers above it in the table, never of one below it.

The checks (exit status 1 if one fails, 0 otherwise):
  - an import cycle between files, each edge with its line and the path it was found by.
    Shown with -v only: cycles made only of edges between a module and its descendants,
    and cycles that close only through a parent's `pub use` of its descendant's name (a
    `mod.rs` re-exporting its children while a child uses a sibling and the `mod.rs`);
  - an upward import: a file importing a file of a layer below its own in the table;
  - a library file in no layer of the table;
  - a table entry that matches no file.

Options: -v prints every edge; --graph prints which layer entry imports which;
--design and --src take paths (relative to the current directory); by default they are
DESIGN.md and src/ of the repository this script is in, whatever the current directory.
File names are printed as `src/` followed by the path under the source folder.
"""

import argparse
import bisect
import os
import re
import sys
from collections import deque

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Comments and literals, found in one pass: line comment, block comment opener, raw string
# opener, string opener, char literal (a lifetime such as `'a` has no closing quote and
# is left alone).
LITERAL = re.compile(
    r"(?P<line>//[^\n]*)"
    r"|(?P<block>/\*)"
    r"|(?P<raw>\b(?:br|cr|r)(?P<hashes>#*)\")"
    r"|(?P<str>(?:\b[bc])?\")"
    r"|(?P<char>'(?:\\(?:u\{[0-9a-fA-F_]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])')"
)
BLOCK_MARK = re.compile(r"/\*|\*/")
STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
CFG_ATTR = re.compile(r"#\s*(!?)\s*\[\s*cfg\s*\(")
ATTR = re.compile(r"#\s*\[")
BRACKETS = re.compile(r"[(){}\[\];,]")
BRACES = re.compile(r"[{}]")
WORD = re.compile(r"[A-Za-z_]\w*")
SPACE = re.compile(r"\s*")
MOD_DECL = re.compile(r"(?<![\w#])mod\s+([A-Za-z_]\w*)\s*([;{])")
USE_STMT = re.compile(r"(?<![\w.#$])use\s+(?=[:\w{])")
PUB_BEFORE = re.compile(r"\bpub\s*(\([^()]*\))?\s*$")
USE_TOKEN = re.compile(r"::|[{}*,]|[A-Za-z_]\w*|\S")
RESTRICTED_VIS = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
ITEM_DEF = re.compile(
    r"\b(?:fn|struct|enum|trait|type|const|static|union)\s+([A-Za-z_]\w*)"
    r"|\bmacro_rules!\s*([A-Za-z_]\w*)"
)
CODE_PATH = re.compile(r"(?<![\w:$])(\$?[A-Za-z_]\w*)((?:\s*::\s*[A-Za-z_]\w*)+)")

# First words of items whose extent ends with a `;` or with their `{ ... }` body.
BLOCK_ITEMS = {"fn", "mod", "impl", "struct", "enum", "trait", "union", "unsafe",
               "async", "extern", "macro_rules", "default", "const"}
# First words of items and statements that end with a `;` only.
SEMICOLON_ITEMS = {"use", "static", "type", "let"}


# ---------------------------------------------------------------------------------------
# Reading a file: comments, literals and cfg'd-out items removed


def blank(text):
    """The text with every character but newlines replaced by a space."""
    return re.sub(r"[^\n]", " ", text)


def block_comment_end(text, start):
    """The end of the (possibly nested) block comment starting at `start`."""
    depth = 0
    pos = start
    while True:
        m = BLOCK_MARK.search(text, pos)
        if m is None:
            return len(text)
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
        if depth == 0:
            return pos


def strip_literals(text):
    """The source with comments, strings and char literals blanked (lines kept)."""
    out = []
    pos = 0
    while True:
        m = LITERAL.search(text, pos)
        if m is None:
            break
        start = m.start()
        if m.group("line") is not None:
            end = m.end()
        elif m.group("block") is not None:
            end = block_comment_end(text, start)
        elif m.group("raw") is not None:
            close = '"' + m.group("hashes")
            found = text.find(close, m.end())
            end = len(text) if found < 0 else found + len(close)
        elif m.group("str") is not None:
            rest = STRING_REST.match(text, m.end())
            end = len(text) if rest is None else rest.end()
        else:
            end = m.end()
        out.append(text[pos:start])
        out.append(blank(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def matching_close(text, open_pos):
    """The position of the bracket closing the one at `open_pos` (or the text's end)."""
    depth = 0
    for m in BRACKETS.finditer(text, open_pos):
        ch = m.group()
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return m.start()
    return len(text)


def split_top_level(text):
    """`text` split at the commas outside any parentheses."""
    parts = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def cfg_requires(predicate, name):
    """Whether the cfg predicate holds only when `name` is set (`name`, or `all(.., name, ..)`)."""
    predicate = predicate.strip()
    if predicate == name:
        return True
    m = re.fullmatch(r"all\s*\((.*)\)", predicate, re.S)
    if m:
        return any(cfg_requires(part, name) for part in split_top_level(m.group(1)))
    return False


def skip_space(text, pos):
    """The first position at or after `pos` that is not whitespace."""
    m = SPACE.match(text, pos)
    return m.end()


def item_end(text, start):
    """The end of the item or statement that starts at `start` (after its attributes)."""
    pos = start
    while True:
        pos = skip_space(text, pos)
        m = ATTR.match(text, pos)
        if m is None:
            break
        pos = matching_close(text, m.end() - 1) + 1
    words = WORD.findall(text[pos:pos + 200])
    first = words[0] if words else ""
    if first == "pub":
        # skip `pub` and `pub(crate)` / `pub(in path)`
        after = re.match(r"\s*pub\s*(\([^)]*\))?", text[pos:])
        rest_words = WORD.findall(text[pos + after.end():pos + after.end() + 200])
        first = rest_words[0] if rest_words else ""
    if first in BLOCK_ITEMS:
        kind = "block"
    elif first in SEMICOLON_ITEMS:
        kind = "semicolon"
    else:
        kind = "statement"
    depth = 0
    braced = text.startswith("{", pos)
    for m in BRACKETS.finditer(text, pos):
        ch = m.group()
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return m.start()
            if depth == 0 and ch == "}" and (kind == "block" or (kind == "statement" and braced)):
                return m.end()
        elif depth == 0 and ch == ";":
            return m.end()
        elif depth == 0 and ch == "," and kind == "statement":
            return m.end()
    return len(text)


def drop_cfg_items(text, dropped_cfgs):
    """The text with every item under a `#[cfg(..)]` that needs one of `dropped_cfgs` blanked.

    An inner `#![cfg(test)]` at the top level of the file blanks the whole file (one inside
    an inline module is not followed)."""
    pieces = []
    pos = 0
    scan = 0
    while True:
        m = CFG_ATTR.search(text, scan)
        if m is None:
            break
        open_paren = m.end() - 1
        close_paren = matching_close(text, open_paren)
        predicate = text[open_paren + 1:close_paren]
        attr_end = text.find("]", close_paren) + 1
        if attr_end == 0:
            break
        if not any(cfg_requires(predicate, name) for name in dropped_cfgs):
            scan = attr_end
            continue
        if m.group(1) == "!":
            if text.count("{", 0, m.start()) == text.count("}", 0, m.start()):
                return blank(text)
            scan = attr_end
            continue
        end = item_end(text, attr_end)
        pieces.append(text[pos:m.start()])
        pieces.append(blank(text[m.start():end]))
        pos = end
        scan = end
    pieces.append(text[pos:])
    return "".join(pieces)


# ---------------------------------------------------------------------------------------
# The crate: modules, their names, and path resolution


class Import:
    """One name brought in by a `use`: the path it stands for, in the module it is written in."""

    def __init__(self, segs, scope):
        self.segs = segs
        self.scope = scope


class Scope:
    """A module (a file's, or an inline `mod x { .. }` inside one) and the names it declares."""

    def __init__(self, path, file, body_depth):
        self.path = path
        self.file = file
        self.body_depth = body_depth
        self.children = {}   # name -> module path
        self.imports = {}    # name -> [Import]   (module level `use`)
        self.locals = {}     # name -> [Import]   (`use` inside a function body)
        self.globs = []      # [Import]
        self.defined = set()


class Target:
    """What a path leads to: a module, or an item in a file; `via` lists the files of the
    re-exports followed on the way."""

    def __init__(self, module=None, file=None, via=()):
        self.module = module
        self.file = file
        self.via = via


class SourceFile:
    """A library source file: its label (`src/...`), module path and cleaned text."""

    def __init__(self, label, module):
        self.label = label
        self.module = module
        self.text = ""
        self.line_starts = [0]
        self.declared_all = set()
        self.declared_kept = set()
        self.excluded = False
        self.paths = []       # (scope path, segments, text, line, is a `pub use`, is in code)

    def line_of(self, pos):
        """The 1-based line number of a position in the file."""
        return bisect.bisect_right(self.line_starts, pos)


class Edge:
    """One import: a line of `src` whose path `text` resolves to `dst`."""

    def __init__(self, src, line, dst, text, via, reexport):
        self.src = src
        self.line = line
        self.dst = dst
        self.text = text
        self.via = via
        self.reexport = reexport

    def describe(self, with_via=False):
        """`src:line -> dst (path)`, with the re-exports followed if asked."""
        out = "%s:%d -> %s (%s)" % (self.src, self.line, self.dst, self.text)
        if with_via and self.via:
            out += " via " + ", ".join(self.via)
        return out


def module_path_of(rel):
    """The module path of a file given relative to the source folder (`a/mod.rs` -> ('a',))."""
    parts = rel[:-3].split("/")
    if parts[-1] == "mod" or parts == ["lib"]:
        parts = parts[:-1]
    return tuple(parts)


def parse_use_tree(tree, base):
    """The leaves of a use tree: (segments, alias or None, is_glob, offset of the leaf).

    A leading `::` (always another crate) is kept as a first segment `::`."""
    tokens = [(m.group(), m.start() + base) for m in USE_TOKEN.finditer(tree)]
    leaves = []

    def parse(i, prefix):
        """Parses the tree starting at token `i` under `prefix`; returns the next token."""
        segs = list(prefix)
        if i < len(tokens) and tokens[i][0] == "::":
            if not prefix:
                segs.append("::")
            i += 1
        while i < len(tokens):
            tok, pos = tokens[i]
            if tok == "{":
                i += 1
                while i < len(tokens) and tokens[i][0] != "}":
                    i = parse(i, segs)
                    if i < len(tokens) and tokens[i][0] == ",":
                        i += 1
                return i + 1
            if tok == "*":
                leaves.append((segs, None, True, pos))
                return i + 1
            if not WORD.fullmatch(tok):
                return i + 1
            i += 1
            if i < len(tokens) and tokens[i][0] == "::":
                segs.append(tok)
                i += 1
                continue
            alias = tok
            if i + 1 < len(tokens) and tokens[i][0] == "as":
                alias = tokens[i + 1][0]
                i += 2
            if tok == "self" and segs:
                if alias == "self":
                    alias = segs[-1]
                leaves.append((segs, alias, False, pos))
            else:
                leaves.append((segs + [tok], alias, False, pos))
            return i
        return i

    parse(0, [])
    return leaves


class Crate:
    """The library's files and modules, read from a source folder."""

    def __init__(self, src, dropped_cfgs):
        self.src = src
        self.dropped_cfgs = dropped_cfgs
        self.files = {}        # label -> SourceFile (library files)
        self.all_labels = []   # every .rs file under src, binaries too
        self.scopes = {}       # module path -> Scope
        self.read_files()
        for source in self.files.values():
            self.read_scopes(source)
        self.mark_excluded()

    def read_files(self):
        """Finds the .rs files and reads each library file's text."""
        for dirpath, dirnames, filenames in os.walk(self.src):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, self.src).replace(os.sep, "/")
                label = "src/" + rel
                self.all_labels.append(label)
                if rel.startswith("bin/") or rel == "main.rs":
                    continue
                source = SourceFile(label, module_path_of(rel))
                with open(path, encoding="utf-8", errors="replace") as f:
                    raw = f.read()
                cleaned = strip_literals(raw)
                source.declared_all = {m.group(1) for m in MOD_DECL.finditer(cleaned) if m.group(2) == ";"}
                source.text = drop_cfg_items(cleaned, self.dropped_cfgs)
                source.line_starts = [0] + [m.end() for m in re.finditer("\n", raw)]
                self.files[label] = source

    def read_scopes(self, source):
        """Reads a file's modules (its own and inline ones), their names, uses and paths."""
        text = source.text
        brace_pos = []
        depth_after = []
        close_of = {}
        stack = []
        depth = 0
        for m in BRACES.finditer(text):
            if m.group() == "{":
                depth += 1
                stack.append(m.start())
            else:
                depth -= 1
                if stack:
                    close_of[stack.pop()] = m.start()
            brace_pos.append(m.start())
            depth_after.append(depth)

        def depth_at(pos):
            """How many braces are open at `pos`."""
            i = bisect.bisect_right(brace_pos, pos - 1) - 1
            return depth_after[i] if i >= 0 else 0

        own = Scope(source.module, source.label, 0)
        self.scopes[source.module] = own
        regions = []  # (start, end, scope) of inline modules, outermost first
        hidden = []   # spans that are no paths: uses, module declarations, pub(in ..)

        def scope_at(pos):
            """The innermost module (the file's or an inline one) around `pos`."""
            found = own
            for start, end, scope in regions:
                if start < pos < end:
                    found = scope
            return found

        for m in MOD_DECL.finditer(text):
            name = m.group(1)
            parent = scope_at(m.start())
            hidden.append((m.start(), m.end()))
            if m.group(2) == ";":
                if parent is own:
                    source.declared_kept.add(name)
                parent.children[name] = parent.path + (name,)
                continue
            open_pos = m.end() - 1
            inner = Scope(parent.path + (name,), source.label, depth_at(open_pos + 1))
            parent.children[name] = inner.path
            self.scopes[inner.path] = inner
            regions.append((open_pos, close_of.get(open_pos, len(text)), inner))

        for m in ITEM_DEF.finditer(text):
            scope = scope_at(m.start())
            if depth_at(m.start()) == scope.body_depth:
                scope.defined.add(m.group(1) or m.group(2))

        for m in USE_STMT.finditer(text):
            end = text.find(";", m.end())
            if end < 0:
                continue
            hidden.append((m.start(), end))
            scope = scope_at(m.start())
            local = depth_at(m.start()) != scope.body_depth
            public = PUB_BEFORE.search(text, max(0, m.start() - 40), m.start()) is not None
            for segs, alias, is_glob, pos in parse_use_tree(text[m.end():end], m.end()):
                line = source.line_of(pos)
                rec = Import(tuple(segs), scope.path)
                shown = "::".join(segs) + ("::*" if is_glob else "")
                source.paths.append((scope.path, rec.segs, shown, line, public, False))
                if is_glob:
                    scope.globs.append(rec)
                elif alias != "_":
                    table = scope.locals if local else scope.imports
                    table.setdefault(alias, []).append(rec)

        for m in RESTRICTED_VIS.finditer(text):
            hidden.append((m.start(), m.end()))
        pieces = []
        pos = 0
        for start, end in sorted(hidden):
            if start < pos:
                start = pos
            pieces.append(text[pos:start])
            pieces.append(blank(text[start:end]))
            pos = max(pos, end)
        pieces.append(text[pos:])
        code = "".join(pieces)
        for m in CODE_PATH.finditer(code):
            segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::")[1:]]
            if segs[0] == "$crate":
                segs[0] = "crate"
            shown = "::".join(segs)
            line = source.line_of(m.start())
            source.paths.append((scope_at(m.start()).path, tuple(segs), shown, line, False, True))

    def mark_excluded(self):
        """Marks the files whose `mod` declaration is only under a dropped cfg, and the files
        of their descendants: they are not built, so they are no nodes."""
        by_module = {s.module: s for s in self.files.values()}
        for source in self.files.values():
            module = source.module
            for depth in range(1, len(module) + 1):
                parent = by_module.get(module[:depth - 1])
                name = module[depth - 1]
                if parent is not None and name in parent.declared_all and name not in parent.declared_kept:
                    source.excluded = True
                    break

    def file_target(self, module, via=()):
        """The target for an item defined in `module` (its file)."""
        scope = self.scopes.get(module)
        if scope is None:
            return None
        return Target(file=scope.file, via=via)

    def lookup(self, module, name, seen, use_locals=False, via=()):
        """What `name` stands for in `module`: a list of targets ([] for a name brought in
        from another crate), or None if the module has no such name (then it is an item of
        the module, or, as a path's first segment, another crate)."""
        scope = self.scopes.get(module)
        if scope is None:
            return None
        key = (module, name)
        if key in seen:
            return []
        seen = seen | {key}
        if name in scope.children:
            return [Target(module=scope.children[name], via=via)]
        if name in scope.defined:
            return [Target(file=scope.file, via=via)]
        records = list(scope.imports.get(name, []))
        if use_locals:
            records += scope.locals.get(name, [])
        found = []
        for rec in records:
            # a re-export of another crate's name resolves to nothing: no edge
            found.extend(self.resolve(rec.scope, rec.segs, seen, via=via + (scope.file,)))
        for rec in scope.globs:
            for glob_target in self.resolve(rec.scope, rec.segs, seen, via=via + (scope.file,)):
                if glob_target.module is None:
                    continue
                inner = self.lookup(glob_target.module, name, seen, via=glob_target.via)
                if inner:
                    found.extend(inner)
        if records or found:
            return found
        return None

    def resolve(self, scope_path, segs, seen=frozenset(), use_locals=False, via=()):
        """The targets (modules or items) of a path written in module `scope_path`
        ([] for another crate's)."""
        first = segs[0]
        rest = list(segs[1:])
        if first == "::":
            return []
        if first == "crate":
            starts = [Target(module=(), via=via)]
        elif first == "self":
            starts = [Target(module=scope_path, via=via)]
        elif first == "super":
            module = scope_path
            rest = list(segs)
            while rest and rest[0] == "super":
                if not module:
                    return []
                module = module[:-1]
                rest.pop(0)
            starts = [Target(module=module, via=via)]
        else:
            starts = self.lookup(scope_path, first, seen, use_locals=use_locals, via=via)
            if not starts:
                return []
        results = []
        for start in starts:
            results.extend(self.walk(start, rest, seen))
        return results

    def walk(self, target, rest, seen):
        """Follows the rest of a path's segments from a target."""
        while rest and target.module is not None:
            name = rest[0]
            if name == "self":
                rest = rest[1:]
                continue
            if name == "super":
                if not target.module:
                    return []
                target = Target(module=target.module[:-1], via=target.via)
                rest = rest[1:]
                continue
            found = self.lookup(target.module, name, seen, via=target.via)
            if found is None:
                item = self.file_target(target.module, target.via)
                return [item] if item else []
            results = []
            for step in found:
                results.extend(self.walk(step, rest[1:], seen))
            return results
        return [target]

    def is_imported(self, module, name):
        """Whether `name` in `module` comes from a `use` (not a child module or an item)."""
        scope = self.scopes[module]
        if name in scope.children or name in scope.defined:
            return False
        return name in scope.imports or name in scope.locals or bool(scope.globs)

    def target_file(self, target):
        """The file a target is in: a module's own file, or the item's file."""
        if target.module is None:
            return target.file
        scope = self.scopes.get(target.module)
        return None if scope is None else scope.file

    def edges(self):
        """Every import between two different library files, in file and line order."""
        found = {}
        for label in sorted(self.files):
            source = self.files[label]
            if source.excluded:
                continue
            for scope_path, segs, shown, line, public, in_code in source.paths:
                already = set()
                if in_code and self.is_imported(scope_path, segs[0]):
                    # `Name::x` after `use a::b::Name`: the `use` line is the edge already,
                    # unless the path goes on into another file (`fs::pages::f` after `use crate::fs`)
                    already = {self.target_file(t) for t in self.resolve(scope_path, segs[:1], use_locals=True)}
                for target in self.resolve(scope_path, segs, use_locals=True):
                    file = self.target_file(target)
                    dst = self.files.get(file)
                    if dst is None or dst.excluded or file == label or file in already:
                        continue
                    via = tuple(v for v in dict.fromkeys(target.via) if v not in (label, file))
                    key = (label, line, file, shown)
                    if key not in found:
                        found[key] = Edge(label, line, file, shown, via, public)
        return sorted(found.values(), key=lambda e: (e.src, e.line, e.dst, e.text))

    def nodes(self):
        """The library files in the graph."""
        return sorted(label for label, s in self.files.items() if not s.excluded)


# ---------------------------------------------------------------------------------------
# The layer table


class Layer:
    """One line of the table: its number (1 = lowest), DESIGN.md line and entries."""

    def __init__(self, number, line, entries):
        self.number = number
        self.line = line
        self.entries = entries


def expand_braces(entry):
    """`src/{a,b}.rs` -> [`src/a.rs`, `src/b.rs`] (several groups multiply)."""
    m = re.search(r"\{([^{}]*)\}", entry)
    if m is None:
        return [entry]
    out = []
    for choice in m.group(1).split(","):
        out.extend(expand_braces(entry[:m.start()] + choice.strip() + entry[m.end():]))
    return out


def read_layers(design_path):
    """The layers of the `## Layout` table; raises ValueError when there is no table."""
    with open(design_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if line.startswith("## Layout"):
            start = i + 1
            break
    if start is None:
        raise ValueError("no line starting with '## Layout'")
    fence = None
    for i in range(start, len(lines)):
        if lines[i].startswith("```"):
            fence = i
            break
    if fence is None:
        raise ValueError("no ``` block after '## Layout'")
    layers = []
    for i in range(fence + 1, len(lines)):
        line = lines[i]
        if line.startswith("```"):
            return layers
        if not line.strip() or line[0].isspace():
            continue
        head = re.split(r"\s{2,}", line.rstrip(), maxsplit=1)[0]
        tokens = head.split()
        if not tokens[0].startswith("src/"):
            continue
        entries = []
        for token in tokens:
            if not token.startswith("src/"):
                continue
            for entry in expand_braces(token):
                if not entry.endswith("/") and not entry.endswith(".rs"):
                    entry += "/"
                entries.append(entry)
        layers.append(Layer(len(layers) + 1, i + 1, entries))
    raise ValueError("the ``` block after '## Layout' is not closed")


def entry_matches(entry, label):
    """Whether a table entry covers a file."""
    if entry.endswith("/"):
        return label.startswith(entry)
    return label == entry


def place(label, layers):
    """The (layer, entry) a file belongs to: the longest matching entry; None if none."""
    best = None
    for layer in layers:
        for entry in layer.entries:
            if entry_matches(entry, label) and (best is None or len(entry) > len(best[1])):
                best = (layer, entry)
    return best


# ---------------------------------------------------------------------------------------
# Cycles


def strongly_connected(nodes, succ):
    """The strongly connected components of a graph (Tarjan's algorithm)."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    components = []
    counter = [0]

    def visit(v):
        """Tarjan's depth-first step from node `v`."""
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    sys.setrecursionlimit(max(10000, 4 * len(nodes)))
    for v in nodes:
        if v not in index:
            visit(v)
    return components


def shortest_path(start, goal, succ, allowed):
    """The shortest list of nodes from start to goal inside `allowed`."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        if v == goal:
            path = []
            while v is not None:
                path.append(v)
                v = previous[v]
            return path[::-1]
        for w in sorted(succ.get(v, ())):
            if w in allowed and w not in previous:
                previous[w] = v
                queue.append(w)
    return None


def is_ancestor(outer, inner):
    """Whether module path `outer` is a proper ancestor of `inner`."""
    return len(outer) < len(inner) and inner[:len(outer)] == outer


def report_cycles(nodes, edges, modules, verbose):
    """Prints the file cycles; returns how many were reported.

    Left out (printed with -v only): cycles made only of edges between a module and its
    own descendants, and cycles that close only through a parent's re-export (`pub use`)
    of one of its descendants, as when a `mod.rs` re-exports its children and a child
    uses a sibling and an item of the `mod.rs`."""
    succ = {}
    real_succ = {}
    first_edge = {}
    for e in edges:
        succ.setdefault(e.src, set()).add(e.dst)
        first_edge.setdefault((e.src, e.dst), e)
        facade = e.reexport and is_ancestor(modules[e.src], modules[e.dst])
        if not facade:
            real_succ.setdefault(e.src, set()).add(e.dst)
            if first_edge[(e.src, e.dst)].reexport:
                first_edge[(e.src, e.dst)] = e

    def related(pair):
        """Whether an edge joins a module and one of its descendants."""
        a, b = modules[pair[0]], modules[pair[1]]
        return is_ancestor(a, b) or is_ancestor(b, a)

    reported = []
    for component in strongly_connected(nodes, real_succ):
        members = set(component)
        inside = sorted(p for p in first_edge if p[0] in members and p[1] in members and p[1] in real_succ.get(p[0], ()))
        crossing = [p for p in inside if not related(p)]
        if len(component) < 2 or not crossing:
            continue
        reported.append(members)
        src, dst = crossing[0]
        path = [src] + shortest_path(dst, src, real_succ, members)
        print("cycle: " + " -> ".join(path))
        shown = set()
        for pair in zip(path, path[1:]):
            print("    " + first_edge[pair].describe())
            shown.add(pair)
        others = [p for p in inside if p not in shown]
        if others:
            print("  other edges among %s:" % ", ".join(component))
            for pair in others:
                print("    " + first_edge[pair].describe())

    if verbose:
        for component in strongly_connected(nodes, succ):
            members = set(component)
            if len(component) < 2 or any(members == r for r in reported):
                continue
            print("cycle through a parent's re-exports or between a module and its descendants "
                  "(not a failure): %s" % ", ".join(component))
            for pair in sorted(p for p in first_edge if p[0] in members and p[1] in members):
                print("    " + first_edge[pair].describe())
    return len(reported)


# ---------------------------------------------------------------------------------------
# Report


def main(argv=None):
    """Runs the checks; returns the exit status."""
    parser = argparse.ArgumentParser(description="Checks the module layering against DESIGN.md's Layout table.")
    parser.add_argument("-v", action="store_true", help="print every edge")
    parser.add_argument("--graph", action="store_true", help="print which layer entry imports which")
    parser.add_argument("--no-fuzzing", action="store_true", help="leave out items under #[cfg(fuzzing)]")
    parser.add_argument("--design", default=os.path.join(REPO, "DESIGN.md"), help="the design document")
    parser.add_argument("--src", default=os.path.join(REPO, "src"), help="the crate's source folder")
    parser.add_argument("src_dir", nargs="?", metavar="SRC", help="the same as --src")
    args = parser.parse_args(argv)
    if args.src_dir:
        args.src = args.src_dir

    design_name = os.path.basename(args.design)
    try:
        layers = read_layers(args.design)
    except (OSError, ValueError) as e:
        print("layers: cannot read the layer table of %s: %s" % (args.design, e), file=sys.stderr)
        return 2
    if not os.path.isdir(args.src):
        print("layers: no source folder %s" % args.src, file=sys.stderr)
        return 2

    dropped = ["test"] + (["fuzzing"] if args.no_fuzzing else [])
    crate = Crate(args.src, dropped)
    nodes = crate.nodes()
    edges = crate.edges()
    pair_count = len({(e.src, e.dst) for e in edges})
    failed = False

    if args.v:
        for e in edges:
            print(e.describe(with_via=True))

    # file cycles
    modules = {label: crate.files[label].module for label in nodes}
    cycles = report_cycles(nodes, edges, modules, args.v)
    if cycles:
        failed = True

    # layers
    placement = {label: place(label, layers) for label in crate.all_labels}
    upward = 0
    for e in edges:
        src_place = placement.get(e.src)
        dst_place = placement.get(e.dst)
        if src_place is None or dst_place is None:
            continue
        if dst_place[0].number > src_place[0].number:
            upward += 1
            failed = True
            print("%s: layer %d '%s' imports layer %d '%s'" % (
                e.describe(), src_place[0].number, src_place[1], dst_place[0].number, dst_place[1]))

    unplaced = 0
    for label in sorted(crate.files):
        if placement[label] is None:
            unplaced += 1
            failed = True
            print("%s is in no layer of %s's Layout" % (label, design_name))

    stale = 0
    seen_entries = {}
    for layer in layers:
        for entry in layer.entries:
            if entry in seen_entries:
                stale += 1
                failed = True
                print("%s:%d: '%s' is also on line %d" % (design_name, layer.line, entry, seen_entries[entry]))
                continue
            seen_entries[entry] = layer.line
            if not any(entry_matches(entry, label) for label in crate.all_labels):
                stale += 1
                failed = True
                print("%s:%d: '%s' matches no file (stale entry)" % (design_name, layer.line, entry))

    if args.graph:
        print_graph(edges, placement, layers)

    head = "layers: %s in %s, %s" % (
        counted(len(nodes), "file"), counted(len(layers), "layer"), counted(pair_count, "edge"))
    if not failed:
        print(head + ", no cycle, no upward import")
        return 0
    print("%s: %s, %s, %s, %s" % (
        head, counted(cycles, "cycle"), counted(upward, "upward import"),
        counted(unplaced, "unplaced file"), counted(stale, "stale table entry", "stale table entries")))
    return 1


def counted(n, singular, plural=None):
    """`1 file`, `2 files`."""
    if n == 1:
        return "1 " + singular
    return "%d %s" % (n, plural or singular + "s")


def print_graph(edges, placement, layers):
    """Prints, per layer entry, the entries its files import (with the number of edges)."""
    counts = {}
    for e in edges:
        src_place = placement.get(e.src)
        dst_place = placement.get(e.dst)
        if src_place is None or dst_place is None or src_place[1] == dst_place[1]:
            continue
        key = (src_place[1], dst_place[1])
        counts[key] = counts.get(key, 0) + 1
    number = {}
    for layer in layers:
        for entry in layer.entries:
            number.setdefault(entry, layer.number)
    print("layer graph (entry -> entries it imports, edges; '!' marks an upward import):")
    for layer in layers:
        for entry in layer.entries:
            targets = sorted((number[b], b, n) for (a, b), n in counts.items() if a == entry)
            shown = []
            for target_number, target, n in targets:
                mark = "!" if target_number > layer.number else ""
                shown.append("%s%s (%d, %d)" % (mark, target, target_number, n))
            print("  %d %-24s -> %s" % (layer.number, entry, ", ".join(shown) if shown else "-"))


if __name__ == "__main__":
    sys.exit(main())
