"""Dockyard's compiled modules in one file, for the command line's start-up.

A command imports 60-100 of Dockyard's modules; Python's path finder spends on
each one a few ``stat`` calls, an ``open`` and a read of its ``.pyc``, and the
Python code of importlib around them: ~2 ms of a ``run`` and of a ``ps`` (A/B
measured: 14.2 -> 13.3 ms for ``ps``). :func:`write` compiles every module of the
package into one file (``make venv`` does it, through scripts/write_launcher.py);
:func:`install` (the launcher and ``python -m dockyard``) puts a finder first
on ``sys.meta_path`` that reads each module's code from that file with one
``pread``.

It never serves stale code: each entry records its source file's mtime (ns) and
size, and a module whose source differs, or that the file lacks, is left to the
normal import (an edited checkout is as correct as without the bundle, only the
edited modules load the usual way). A bundle written by another Python version,
a missing or damaged one, or a descriptor closed under it (a process that closes
inherited fds) make the finder step aside.

Loading a module through importlib's ``_find_and_load`` (module locks, a walk of
``sys.meta_path``, ``module_from_spec``) costs ~20 us of its Python code, cold, per
module: ~1.2 ms of a ``run`` (A/B measured). :func:`install` therefore also puts
:meth:`BundleFinder.find_and_load` in its place, which loads a bundled module
directly and hands everything else to the original. CPython's import statement
looks ``_find_and_load`` up on importlib's module at each miss of ``sys.modules``
(3.11-3.13), so the replacement sees every first import; a Python that did not
would only lose the speed. It skips the per-module locks, so it serves only a
process without threads (``threading`` not imported: the command line, the shim);
the others go the usual way.

Layout: ``DYBUNDLE`` + importlib's magic number + the length of the index (8
bytes, little-endian) + the index (marshal: name -> (offset, length, source,
mtime_ns, size, is_package)) + the code objects (marshal), back to back.
"""

from __future__ import annotations

import _frozen_importlib  # importlib's own: loaded before any import
import _frozen_importlib_external
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

MAGIC = b"DYBUNDLE" + _frozen_importlib_external.MAGIC_NUMBER
_new_module = type(sys)  # types.ModuleType, without importing types
_bootstrap: Any = _frozen_importlib
_find_and_load: Callable[[str, Any], ModuleType] = _bootstrap._find_and_load  # the original
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def default_path(package_dir: str) -> str:
    """Where :func:`write` and :func:`install` keep the bundle of ``package_dir``."""
    return os.path.join(package_dir, "__pycache__", f"bundle.{sys.implementation.cache_tag}.bin")


class BundleFinder:
    """A ``sys.meta_path`` finder (and loader) serving modules from a bundle file."""

    def __init__(self, path: str) -> None:
        """Open the bundle at ``path``; OSError or ValueError if it is not one."""
        fd = os.open(path, _OPEN_FLAGS)
        try:
            head = os.pread(fd, len(MAGIC) + 8, 0)
            if len(head) != len(MAGIC) + 8 or not head.startswith(MAGIC):
                raise ValueError(f"{path}: not a bundle of this Python")
            n = int.from_bytes(head[len(MAGIC) :], "little")
            index = marshal.loads(os.pread(fd, n, len(MAGIC) + 8))
            if not isinstance(index, dict):
                raise ValueError(f"{path}: damaged index")
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.identity = (st.st_dev, st.st_ino)
        self.index: dict[str, tuple[int, int, str, int, int, bool]] = index
        self.base = len(MAGIC) + 8 + n

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> Any:
        entry = self.index.get(name)
        if entry is None or self.fd < 0:
            return None
        offset, length, source, mtime_ns, size, is_package = entry
        try:
            st = os.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None  # edited since: the normal import compiles it
        try:
            fst = os.fstat(self.fd)
            if (fst.st_dev, fst.st_ino) != self.identity:
                raise OSError("the descriptor is another file's now")
            data = os.pread(self.fd, length, self.base + offset)
        except OSError:
            self.fd = -1  # closed under us (close_fds_except): step aside for good
            return None
        if len(data) != length:
            return None
        loader: Any = self  # a Loader by protocol (importlib.abc costs an import)
        spec = _frozen_importlib.ModuleSpec(
            name, loader, origin=source, loader_state=data, is_package=is_package
        )
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(source)]
        spec.has_location = True  # __file__ and __cached__ as a normal import sets them
        return spec

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        assert spec is not None
        exec(marshal.loads(spec.loader_state), module.__dict__)

    def find_and_load(self, name: str, import_: Any) -> ModuleType:
        """importlib's ``_find_and_load(name, import_)`` for a bundled module, in a
        process without threads: the module set up as ``module_from_spec`` would,
        run, and bound on its parent, as importlib does (module docstring)."""
        modules = sys.modules
        if name not in self.index or "threading" in modules:
            return _find_and_load(name, import_)
        parent, _, child = name.rpartition(".")
        if parent and parent not in modules:
            import_(parent)
            if name in modules:  # the parent's import imported it
                return modules[name]
        spec = self.find_spec(name)
        if spec is None:
            return _find_and_load(name, import_)
        module = _new_module(name)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        module.__package__ = name if spec.submodule_search_locations else parent
        module.__file__ = spec.origin
        if spec.submodule_search_locations is not None:
            module.__path__ = spec.submodule_search_locations
        modules[name] = module
        try:
            self.exec_module(module)
        except BaseException:
            modules.pop(name, None)
            raise
        module = modules[name]  # it may have replaced itself
        if parent:
            setattr(modules[parent], child, module)
        return module


def installed() -> BundleFinder | None:
    """The finder :func:`install` put on ``sys.meta_path``, if any (a process that closes
    inherited fds keeps its ``fd``, close-on-exec, to go on loading from the bundle)."""
    for finder in sys.meta_path:
        if isinstance(finder, BundleFinder) and finder.fd >= 0:
            return finder
    return None


def install(package_dir: str | None = None) -> BundleFinder | None:
    """Put the bundle's finder first on ``sys.meta_path`` (``package_dir``: Dockyard's
    package directory by default). None, and nothing changed, if there is no usable
    bundle."""
    if package_dir is None:
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        finder = BundleFinder(default_path(package_dir))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    sys.meta_path.insert(0, finder)
    _bootstrap._find_and_load = finder.find_and_load
    return finder


def write(package_dir: str, out: str | None = None) -> int:
    """Compile every module under ``package_dir`` (a package named after its
    directory) into a bundle at ``out`` (default: :func:`default_path`), atomically.
    Returns the number of modules."""
    package_dir = os.path.abspath(package_dir)
    top = os.path.dirname(package_dir)
    index: dict[str, tuple[int, int, str, int, int, bool]] = {}
    blobs: list[bytes] = []
    offset = 0
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        if "__init__.py" not in filenames:
            dirnames[:] = []  # not a package: nothing below is importable as ours
            continue
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            source = os.path.join(dirpath, fn)
            parts = os.path.relpath(source, top)[: -len(".py")].split(os.sep)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            st = os.stat(source)
            with open(source, "rb") as f:
                code = compile(f.read(), source, "exec", dont_inherit=True)
            data = marshal.dumps(code)
            index[name] = (offset, len(data), source, st.st_mtime_ns, st.st_size, is_package)
            blobs.append(data)
            offset += len(data)
    head = marshal.dumps(index)
    out = out or default_path(package_dir)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + len(head).to_bytes(8, "little") + head)
            for blob in blobs:
                f.write(blob)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(index)
