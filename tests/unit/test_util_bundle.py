"""_util.bundle: a package's modules served from one file, never stale."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dockyard._util import bundle

SRC = str(Path(bundle.__file__).resolve().parents[2])


def make_package(top: Path) -> Path:
    pkg = top / "pkgx"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("NAME = 'pkgx'\n")
    (pkg / "a.py").write_text("from pkgx.sub import b\nVALUE = 'a' + b.VALUE\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("VALUE = 'b1'\n")
    (pkg / "data").mkdir()  # not a package: not bundled
    (pkg / "data" / "c.py").write_text("raise SystemExit('never imported')\n")
    return pkg


def run_importing(top: Path, pkg: Path, code: str) -> str:
    """``code`` in a fresh interpreter with ``pkg``'s bundle installed; its stdout."""
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{SRC!r}, {str(top)!r}]
        from dockyard._util.bundle import install
        finder = install({str(pkg)!r})
        """) + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_modules_come_from_the_bundle_with_their_usual_attributes(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    assert bundle.write(str(pkg)) == 4
    out = run_importing(
        tmp_path,
        pkg,
        """
        import pkgx.a, pkgx.sub
        m = sys.modules["pkgx.sub.b"]
        print(type(m.__spec__.loader).__name__)
        print(pkgx.a.VALUE)
        print(m.__file__)
        print(pkgx.sub.__path__)
        print(pkgx.__file__)
        """,
    )
    assert out.splitlines() == [
        "BundleFinder",
        "ab1",
        str(pkg / "sub" / "b.py"),
        repr([str(pkg / "sub")]),
        str(pkg / "__init__.py"),
    ]


def test_first_imports_skip_importlibs_machinery_but_not_its_results(tmp_path: Path) -> None:
    """The finder's find_and_load loads them (importlib, which it replaces, would have
    marked each spec while initializing); names, packages and parents as importlib's."""
    pkg = make_package(tmp_path)
    bundle.write(str(pkg))
    out = run_importing(
        tmp_path,
        pkg,
        """
        import _frozen_importlib
        import pkgx.a
        a, sub, b = (sys.modules[n] for n in ("pkgx.a", "pkgx.sub", "pkgx.sub.b"))
        print(_frozen_importlib._find_and_load == finder.find_and_load)
        print([hasattr(m.__spec__, "_initializing") for m in (a, sub, b)])
        print(a.__package__, sub.__package__, b.__package__, sub.__path__ == [sub.__path__[0]])
        print(pkgx.sub is sub, sub.b is b, a.__loader__ is finder, a.__file__ == a.__spec__.origin)
        """,
    )
    assert out.splitlines() == [
        "True",
        "[False, False, False]",
        "pkgx pkgx.sub pkgx.sub True",
        "True True True True",
    ]


def test_a_module_that_fails_is_not_left_half_imported(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    (pkg / "bad.py").write_text("import pkgx.sub.b\nraise ValueError('bad module')\n")
    bundle.write(str(pkg))
    out = run_importing(
        tmp_path,
        pkg,
        """
        for _ in range(2):
            try:
                import pkgx.bad
            except ValueError as e:
                print(e, "pkgx.bad" in sys.modules, hasattr(sys.modules["pkgx"], "bad"))
        print("pkgx.sub.b" in sys.modules)
        """,
    )
    assert out.splitlines() == ["bad module False False"] * 2 + ["True"]


def test_a_process_with_threads_imports_through_importlib(tmp_path: Path) -> None:
    """The shortcut skips importlib's per-module locks: with threads, importlib loads."""
    pkg = make_package(tmp_path)
    bundle.write(str(pkg))
    out = run_importing(
        tmp_path,
        pkg,
        """
        import threading
        import pkgx.a
        spec = sys.modules["pkgx.a"].__spec__
        print(hasattr(spec, "_initializing"), type(spec.loader).__name__)
        """,
    )
    assert out.split() == ["True", "BundleFinder"]


def test_an_edited_module_is_imported_from_its_source(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundle.write(str(pkg))
    b = pkg / "sub" / "b.py"
    b.write_text("VALUE = 'b2, longer'\n")
    out = run_importing(
        tmp_path,
        pkg,
        """
        import pkgx.a
        print(pkgx.a.VALUE, type(sys.modules["pkgx.a"].__spec__.loader).__name__,
              type(sys.modules["pkgx.sub.b"].__spec__.loader).__name__)
        """,
    )
    assert out.split() == ["ab2,", "longer", "BundleFinder", "SourceFileLoader"]


def test_a_module_the_bundle_lacks_or_whose_source_is_gone(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundle.write(str(pkg))
    (pkg / "new.py").write_text("VALUE = 'new'\n")
    (pkg / "sub" / "b.py").unlink()
    out = run_importing(
        tmp_path,
        pkg,
        """
        import pkgx.new
        print(pkgx.new.VALUE)
        try:
            import pkgx.sub.b
        except ModuleNotFoundError:
            print("gone")
        """,
    )
    assert out.split() == ["new", "gone"]


def test_no_bundle_or_a_damaged_one_changes_nothing(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    assert bundle.install(str(pkg)) is None  # none written
    path = Path(bundle.default_path(str(pkg)))
    path.parent.mkdir()
    for junk in (b"", b"DYBUNDLE", bundle.MAGIC + (10**6).to_bytes(8, "little") + b"\x00"):
        path.write_bytes(junk)
        before = list(sys.meta_path)
        assert bundle.install(str(pkg)) is None
        assert sys.meta_path == before
    other_python = b"DYBUNDLE" + b"\x00\x00\r\n"
    bundle.write(str(pkg))
    path.write_bytes(other_python + path.read_bytes()[len(bundle.MAGIC) :])
    assert bundle.install(str(pkg)) is None


def test_a_descriptor_closed_under_the_finder_makes_it_step_aside(tmp_path: Path) -> None:
    """A process that closes its inherited fds (the shim forked ahead) imports as usual."""
    pkg = make_package(tmp_path)
    bundle.write(str(pkg))
    out = run_importing(
        tmp_path,
        pkg,
        """
        import os
        os.close(finder.fd)
        r, w = os.pipe()  # the number may be another file's now
        import pkgx.a
        print(pkgx.a.VALUE, finder.fd, type(sys.modules["pkgx.a"].__spec__.loader).__name__)
        """,
    )
    assert out.split() == ["ab1", "-1", "SourceFileLoader"]


def test_the_write_is_atomic_and_covers_dockyard(tmp_path: Path) -> None:
    pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(bundle.__file__)))
    out = tmp_path / "b.bin"
    n = bundle.write(pkg_dir, str(out))
    sources = [f for d, _, fs in os.walk(pkg_dir) for f in fs if f.endswith(".py")]
    assert n == len(sources)
    assert os.listdir(tmp_path) == ["b.bin"]  # no temporary file left
    finder = bundle.BundleFinder(str(out))
    try:
        assert "dockyard.cli.main" in finder.index
        assert finder.find_spec("dockyard.cli.main") is not None
        assert finder.find_spec("json") is None
    finally:
        os.close(finder.fd)
