#!/usr/bin/env python3
"""Self-test of scripts/layers.py.

    python3 scripts/test_layers.py [-v]

Each test writes a small crate (a few .rs files under src/ and a DESIGN.md with a
`## Layout` block) into a temporary folder and runs layers.py on it as a subprocess, with
--src and --design. One test runs it on the repository's own src/ and looks for edges
known to be there (it skips when those lines are gone).
"""

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "layers.py")
REPO = os.path.dirname(HERE)
EDGE = re.compile(r"^(\S+):(\d+) -> (\S+) \((.*?)\)")


def write_crate(root, files, layout):
    """Writes `files` ({'lib.rs': source, ...}, paths under src/) and a DESIGN.md whose
    Layout block has the lines `layout` (a list of strings)."""
    for rel, source in files.items():
        path = os.path.join(root, "src", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source).lstrip("\n"))
    with open(os.path.join(root, "DESIGN.md"), "w") as f:
        f.write("# Design\n\nSome text.\n\n## Layout\n\nThe layers:\n```\n")
        f.write("\n".join(layout) + "\n")
        f.write("```\n\n```\nsrc/other-block.rs   never read\n```\n")


def run_layers(root, *args):
    """Runs layers.py on the crate in `root`; returns (exit status, stdout)."""
    cmd = [sys.executable, SCRIPT, "--src", os.path.join(root, "src"),
           "--design", os.path.join(root, "DESIGN.md")] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def parse_edges(output):
    """The edges of a -v output as a set of (src, line, dst, path)."""
    found = set()
    for line in output.splitlines():
        m = EDGE.match(line)
        if m:
            found.add((m.group(1), int(m.group(2)), m.group(3), m.group(4)))
    return found


class CrateTest(unittest.TestCase):
    """Runs layers.py on crates written to a temporary folder."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_on(self, files, layout=("src/   everything in one layer",), *args):
        """Writes the crate and runs layers.py on it."""
        write_crate(self.root, files, list(layout))
        return run_layers(self.root, *args)

    def edges_of(self, files, *args):
        """The edges layers.py -v finds in a crate placed in one layer; the run must pass."""
        status, output = self.run_on(files, ("src/   everything",), "-v", *args)
        self.assertEqual(status, 0, output)
        return parse_edges(output)

    def pairs(self, edges):
        """The (src, dst) pairs of a set of edges."""
        return {(e[0], e[2]) for e in edges}

    # --- resolution ---------------------------------------------------------------------

    def test_relative_use_of_a_child_in_mod_rs(self):
        edges = self.edges_of({
            "lib.rs": "pub mod input;\n",
            "input/mod.rs": """
                mod multipart;

                pub use multipart::{Field, Multipart};

                fn f() {
                    multipart::parse();
                }
            """,
            "input/multipart.rs": "pub struct Field;\npub struct Multipart;\npub fn parse() {}\n",
        })
        self.assertIn(("src/input/mod.rs", 6, "src/input/multipart.rs", "multipart::parse"), edges)
        self.assertIn(("src/input/mod.rs", 3, "src/input/multipart.rs", "multipart::Field"), edges)
        self.assertIn(("src/input/mod.rs", 3, "src/input/multipart.rs", "multipart::Multipart"), edges)
        # declaring a child is no edge
        self.assertNotIn(("src/lib.rs", "src/input/mod.rs"), self.pairs(edges))

    def test_super_self_and_crate_paths(self):
        edges = self.edges_of({
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "pub fn f() {}\n",
            "b/mod.rs": """
                mod x;
                pub fn g() {
                    self::x::h();
                }
            """,
            "b/x.rs": """
                pub fn h() {
                    super::super::a::f();
                    super::g();
                }
            """,
            "c.rs": """
                fn k() {
                    crate::a::f();
                }
            """,
        })
        self.assertIn(("src/b/mod.rs", 3, "src/b/x.rs", "self::x::h"), edges)
        self.assertIn(("src/b/x.rs", 2, "src/a.rs", "super::super::a::f"), edges)
        self.assertIn(("src/b/x.rs", 3, "src/b/mod.rs", "super::g"), edges)
        self.assertIn(("src/c.rs", 2, "src/a.rs", "crate::a::f"), edges)

    def test_path_through_a_use_alias(self):
        edges = self.edges_of({
            "lib.rs": "mod fs;\nmod user;\nmod other;\n",
            "fs/mod.rs": "pub(crate) mod pages;\n",
            "fs/pages.rs": "pub(crate) fn cached() {}\n",
            "user.rs": """
                use crate::fs;

                fn x() {
                    fs::pages::cached();
                }
            """,
            "other.rs": """
                use crate::fs::{self as files, pages as p};

                fn y() {
                    files::pages::cached();
                    p::cached();
                }
            """,
        })
        self.assertIn(("src/user.rs", 1, "src/fs/mod.rs", "crate::fs"), edges)
        self.assertIn(("src/user.rs", 4, "src/fs/pages.rs", "fs::pages::cached"), edges)
        self.assertIn(("src/other.rs", 1, "src/fs/mod.rs", "crate::fs"), edges)
        self.assertIn(("src/other.rs", 1, "src/fs/pages.rs", "crate::fs::pages"), edges)
        self.assertIn(("src/other.rs", 4, "src/fs/pages.rs", "files::pages::cached"), edges)

    def test_edge_through_a_lib_rs_reexport(self):
        edges = self.edges_of({
            "lib.rs": """
                mod task;
                mod input;
                mod worker;
                pub use task::spawn_blocking;
                pub use crate::task::{time, file_work};
            """,
            "task.rs": """
                pub fn spawn_blocking() {}
                pub(crate) fn file_work() {}
                pub mod time {
                    pub fn sleep() {}
                }
            """,
            "input.rs": """
                fn f() {
                    crate::spawn_blocking();
                    crate::time::sleep();
                }
            """,
            "worker.rs": "use crate::file_work;\n",
        })
        self.assertIn(("src/input.rs", 2, "src/task.rs", "crate::spawn_blocking"), edges)
        self.assertIn(("src/input.rs", 3, "src/task.rs", "crate::time::sleep"), edges)
        self.assertIn(("src/worker.rs", 1, "src/task.rs", "crate::file_work"), edges)
        self.assertNotIn(("src/input.rs", "src/lib.rs"), self.pairs(edges))

    def test_chain_of_reexports_and_globs(self):
        edges = self.edges_of({
            "lib.rs": """
                pub mod fs;
                mod files;
                mod api;
                mod glob;
                mod user;
                pub use glob::*;
            """,
            "files/mod.rs": """
                mod static_dir;
                pub use static_dir::StaticDir;
            """,
            "files/static_dir.rs": "pub struct StaticDir;\n",
            "fs/mod.rs": "pub use crate::files::StaticDir;\n",
            "api.rs": "use crate::fs::StaticDir;\n",
            "glob.rs": "pub struct Thing;\n",
            "user.rs": """
                use crate::glob::*;
                use crate::Thing;
            """,
        })
        self.assertIn(("src/api.rs", 1, "src/files/static_dir.rs", "crate::fs::StaticDir"), edges)
        self.assertNotIn(("src/api.rs", "src/fs/mod.rs"), self.pairs(edges))
        self.assertIn(("src/fs/mod.rs", 1, "src/files/static_dir.rs", "crate::files::StaticDir"), edges)
        self.assertIn(("src/lib.rs", 6, "src/glob.rs", "glob::*"), edges)
        self.assertIn(("src/user.rs", 1, "src/glob.rs", "crate::glob::*"), edges)
        self.assertIn(("src/user.rs", 2, "src/glob.rs", "crate::Thing"), edges)

    def test_comments_strings_and_tests_give_no_edge(self):
        edges = self.edges_of({
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "b.rs": "pub struct X;\npub fn y() {}\n",
            "c.rs": "pub fn f() {}\n",
            "a.rs": r'''
                //! Uses [`crate::b::X`] a lot.
                // use crate::b::X;
                /// See crate::b::y().
                /* crate::b::y() /* nested */ crate::b::y() */
                fn strings<'a>(x: &'a str) -> &'a str {
                    let s = "crate::b::y";
                    let e = "escaped \" crate::b::y";
                    let r = r#"crate::b::y "quoted" crate::b::y"#;
                    let by = b"crate::b::y";
                    let q = '"';
                    let t = '\'';
                    crate::c::f();
                    x
                }

                #[cfg(test)]
                use crate::b::X;

                #[cfg(test)]
                fn helper() {
                    crate::b::y();
                }

                #[cfg(test)]
                mod tests {
                    use super::*;
                    use crate::b::X;

                    #[test]
                    fn t() {
                        crate::b::y();
                    }
                }
            ''',
        })
        self.assertNotIn(("src/a.rs", "src/b.rs"), self.pairs(edges))
        # the literals are skipped without losing the code after them
        self.assertIn(("src/a.rs", 12, "src/c.rs", "crate::c::f"), edges)

    def test_braces_in_literals_and_other_test_cfgs(self):
        edges = self.edges_of({
            "lib.rs": "mod a;\nmod b;\nmod c;\nmod only_tests;\n",
            "b.rs": "pub fn y() {}\n",
            "c.rs": "pub fn f() {}\n",
            "only_tests.rs": "#![cfg(test)]\nuse crate::b::y;\n",
            "a.rs": r'''
                mod inner {
                    const OPEN: char = '{';
                    const CLOSE: &str = "}}";
                    pub(crate) fn z<'a>(x: &'a str) -> &'a str { x }
                }

                #[cfg(all(test, unix))]
                #[allow(unused)]
                impl Thing {
                    fn t() { crate::b::y(); }
                }

                fn after() {
                    crate::c::f();
                }
            ''',
        })
        self.assertNotIn(("src/a.rs", "src/b.rs"), self.pairs(edges))
        self.assertNotIn(("src/only_tests.rs", "src/b.rs"), self.pairs(edges))
        self.assertIn(("src/a.rs", 14, "src/c.rs", "crate::c::f"), edges)

    def test_fuzzing_items_count_unless_no_fuzzing(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n#[cfg(fuzzing)]\nmod mock;\n",
            "a.rs": "#[cfg(fuzzing)]\nuse crate::b::X;\n",
            "b.rs": "pub struct X;\n",
            "mock.rs": "use crate::b::X;\n",
        }
        edges = self.edges_of(files)
        self.assertIn(("src/a.rs", "src/b.rs"), self.pairs(edges))
        self.assertIn(("src/mock.rs", "src/b.rs"), self.pairs(edges))
        edges = self.edges_of(files, "--no-fuzzing")
        self.assertNotIn(("src/a.rs", "src/b.rs"), self.pairs(edges))
        self.assertNotIn(("src/mock.rs", "src/b.rs"), self.pairs(edges))

    def test_external_http_crate_is_no_edge(self):
        edges = self.edges_of({
            "lib.rs": "mod http;\nmod a;\nmod b;\npub use ::http::StatusCode;\n",
            "http/mod.rs": "pub struct Limits;\n",
            "a.rs": """
                use http::StatusCode;

                fn f() -> http::Method {
                    crate::StatusCode::OK;
                    std::mem::drop(1);
                }
            """,
            "b.rs": "use crate::http::Limits;\n",
        })
        self.assertNotIn(("src/a.rs", "src/http/mod.rs"), self.pairs(edges))
        self.assertNotIn(("src/a.rs", "src/lib.rs"), self.pairs(edges))
        self.assertIn(("src/b.rs", 1, "src/http/mod.rs", "crate::http::Limits"), edges)

    def test_inline_module_belongs_to_its_file(self):
        edges = self.edges_of({
            "lib.rs": "mod net;\nmod sys;\nmod user;\n",
            "sys.rs": "pub fn send() {}\n",
            "net.rs": """
                mod real {
                    pub(crate) use crate::sys;
                    use super::Stream;
                }
                pub(crate) use real::*;
                pub struct Stream;
            """,
            "user.rs": "use crate::net::sys::send;\n",
        })
        self.assertIn(("src/net.rs", 2, "src/sys.rs", "crate::sys"), edges)
        self.assertIn(("src/user.rs", 1, "src/sys.rs", "crate::net::sys::send"), edges)
        self.assertNotIn(("src/net.rs", "src/lib.rs"), self.pairs(edges))

    # --- checks -------------------------------------------------------------------------

    def test_upward_import_fails(self):
        status, output = self.run_on({
            "lib.rs": "mod low;\nmod high;\n",
            "low.rs": "use crate::high::Thing;\n",
            "high.rs": "pub struct Thing;\n",
        }, ["src/low.rs   the bottom", "src/high.rs src/lib.rs   the top"])
        self.assertEqual(status, 1, output)
        self.assertIn("src/low.rs:1 -> src/high.rs (crate::high::Thing): "
                      "layer 1 'src/low.rs' imports layer 2 'src/high.rs'", output)

    def test_file_cycle_fails(self):
        status, output = self.run_on({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "// B needs A\nuse super::a::A;\npub struct B;\n",
        })
        self.assertEqual(status, 1, output)
        self.assertIn("cycle: src/a.rs -> src/b.rs -> src/a.rs", output)
        self.assertIn("src/a.rs:1 -> src/b.rs (crate::b::B)", output)
        self.assertIn("src/b.rs:2 -> src/a.rs (super::a::A)", output)

    def test_parent_reexport_cycle_is_not_a_failure(self):
        files = {
            "lib.rs": "pub mod response;\n",
            "response/mod.rs": """
                mod json;
                mod text;
                pub use json::Json;
                pub use text::Html;
                pub struct Body;
            """,
            "response/json.rs": "use super::{Body, Html};\npub struct Json;\n",
            "response/text.rs": "use super::Body;\npub struct Html;\n",
        }
        status, output = self.run_on(files)
        self.assertEqual(status, 0, output)
        status, output = self.run_on(files, ("src/   everything",), "-v")
        self.assertEqual(status, 0, output)
        self.assertIn("(not a failure)", output)

    def test_unplaced_file_fails(self):
        status, output = self.run_on({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "",
            "b.rs": "",
        }, ["src/lib.rs src/a.rs   all but b"])
        self.assertEqual(status, 1, output)
        self.assertIn("src/b.rs is in no layer of DESIGN.md's Layout", output)

    def test_stale_entry_fails(self):
        status, output = self.run_on({
            "lib.rs": "mod a;\n",
            "a.rs": "",
        }, ["src/a.rs src/gone.rs src/old/   bottom", "src/lib.rs   top"])
        self.assertEqual(status, 1, output)
        self.assertIn("'src/gone.rs' matches no file (stale entry)", output)
        self.assertIn("'src/old/' matches no file (stale entry)", output)

    def test_passing_tree(self):
        status, output = self.run_on({
            "lib.rs": """
                mod escape;
                mod state;
                mod router;
                mod server;
                pub use server::Server;
            """,
            "escape.rs": "pub struct Escaped;\n",
            "state.rs": "use crate::escape::Escaped;\n",
            "router.rs": "use crate::state;\n",
            "server/mod.rs": """
                mod conn;
                #[cfg(fuzzing)]
                mod fuzz;
                pub struct Server;
            """,
            "server/conn.rs": "use crate::router;\n",
            "server/fuzz.rs": "use super::conn;\nuse super::Server;\n",
            "bin/tool/main.rs": "use ringbolt::Server;\n",
        }, [
            "Cargo.toml                 one crate",
            "src/{escape,state,router}.rs   pure parts,",
            "                           a continued description: src/nothing.rs",
            "src/server/                serving",
            "src/server/fuzz.rs         the harness, above the server",
            "src/lib.rs src/bin/tool/   the face",
            "tests/                     integration tests",
        ])
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"^layers: 7 files in 4 layers, \d+ edges, no cycle, no upward import\n$")

    def test_graph_option(self):
        status, output = self.run_on({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "pub struct A;\n",
            "b.rs": "use crate::a::A;\n",
        }, ["src/a.rs   bottom", "src/b.rs src/lib.rs   top"], "--graph")
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"2 src/b.rs +-> src/a.rs \(1, 1\)")


class RealTreeTest(unittest.TestCase):
    """Runs layers.py on the repository's src/ with every file in one layer."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        design = os.path.join(cls.tmp.name, "DESIGN.md")
        with open(design, "w") as f:
            f.write("## Layout\n```\nsrc/   the whole library in one layer\n```\n")
        cmd = [sys.executable, SCRIPT, "-v", "--design", design, "--src", os.path.join(REPO, "src")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        cls.status = proc.returncode
        cls.output = proc.stdout + proc.stderr
        cls.edges = parse_edges(proc.stdout)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def code_lines(self, rel, pattern):
        """The numbers of the lines of src/`rel` whose code (before any `//`) matches."""
        path = os.path.join(REPO, "src", rel)
        if not os.path.exists(path):
            return []
        found = []
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if re.search(pattern, line.split("//")[0]):
                    found.append(number)
        return found

    def test_runs(self):
        # a cycle in the tree is a finding (status 1), not a crash
        self.assertIn(self.status, (0, 1), self.output)
        self.assertRegex(self.output, r"(?m)^layers: \d+ files in 1 layer, \d+ edges")
        self.assertNotIn("is in no layer", self.output)

    def test_input_reexports_multipart(self):
        lines = self.code_lines("input/mod.rs", r"^\s*pub use multipart::")
        if not lines:
            self.skipTest("src/input/mod.rs no longer has `pub use multipart::...`")
        got = {(e[0], e[1], e[2]) for e in self.edges}
        self.assertIn(("src/input/mod.rs", lines[0], "src/input/multipart.rs"), got, self.output)

    def test_multipart_spawn_blocking_through_lib_rs(self):
        lines = self.code_lines("input/multipart.rs", r"\bcrate::spawn_blocking\b")
        reexport = self.code_lines("lib.rs", r"^\s*pub use (crate::)?task::.*\bspawn_blocking\b")
        if not lines or not reexport:
            self.skipTest("src/input/multipart.rs no longer calls crate::spawn_blocking "
                          "(or lib.rs no longer re-exports it from task)")
        got = {(e[0], e[1], e[2]) for e in self.edges}
        for number in lines:
            self.assertIn(("src/input/multipart.rs", number, "src/task.rs"), got, self.output)


if __name__ == "__main__":
    # Only options go to unittest: a path given as the layer check's argument (`src`) names no test.
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[1:] if a.startswith("-")])
