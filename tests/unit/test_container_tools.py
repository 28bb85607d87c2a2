"""The pure parts of cp, stats, top, port and update; cp's walker and extractor on
temporary trees (no root needed: owners are kept as they are)."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from dockyard.cli.commands.stats import stats_row
from dockyard.cli.commands.top import port_lines
from dockyard.cli.units import bytes_size, human_size
from dockyard.engine import container_fs as cfs
from dockyard.engine import container_fs_paths as cp_paths
from dockyard.engine import container_fs_root as fs_root
from dockyard.engine import container_fs_tar as fs_tar
from dockyard.engine import container_stats as cst
from dockyard.engine.container_config import ContainerCreate
from dockyard.engine.container_update import (
    ContainerUpdate,
    apply,
    change_resources,
    full_resources,
    validate,
)
from dockyard.errors import Conflict, InvalidArgument, InvalidContent
from dockyard.oci.runtime_spec import Resources
from dockyard.specs.ports import PortBinding
from dockyard.specs.restart import RestartPolicy

# -- cp: arguments and Go's path functions -----------------------------------------------


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        ("c:/etc", ("c", "/etc")),
        ("c:", ("c", "")),
        ("c:rel/x", ("c", "rel/x")),
        ("/abs:x", ("", "/abs:x")),
        ("./file:name", ("", "./file:name")),
        ("plain", ("", "plain")),
        ("-", ("", "-")),
    ],
)
def test_split_cp_arg(arg: str, want: tuple[str, str]) -> None:
    assert cp_paths.split_cp_arg(arg) == want


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/a/b", ("/a", "b")),
        ("/a/b/", ("/a", "b")),
        ("/a/b/.", ("/a/b", ".")),
        ("/a/b/./", ("/a/b", ".")),
        ("/", ("/", "/")),
        ("a", (".", "a")),
    ],
)
def test_split_path_dir_entry(path: str, want: tuple[str, str]) -> None:
    assert cp_paths.split_path_dir_entry(path) == want


def test_go_path_helpers() -> None:
    assert cp_paths.clean("//a/../b/") == "/b"
    assert cp_paths.clean("") == "."
    assert (
        cp_paths.go_base("/a/b/") == "b"
        and cp_paths.go_base("/") == "/"
        and cp_paths.go_base("") == "."
    )
    assert cp_paths.go_split("/a/b") == ("/a/", "b") and cp_paths.go_split("/a/") == ("/a/", "")
    assert cp_paths.container_abs("etc") == "/etc"
    assert cp_paths.container_abs("etc/") == "/etc/"
    assert cp_paths.container_abs("/etc/.") == "/etc/."
    assert cp_paths.container_abs("/a/../../etc") == "/etc"
    assert cp_paths.container_abs("") == "/."  # Docker's: "C:" is the root's contents
    assert cp_paths.local_abs("x/.", cwd="/home/u") == "/home/u/x/."
    assert cp_paths.local_abs("x/", cwd="/home/u") == "/home/u/x/"
    assert cp_paths.local_abs(".", cwd="/home/u") == "/home/u/."
    assert cp_paths.asserts_directory("/a/") and cp_paths.asserts_directory("/a/.")
    assert not cp_paths.asserts_directory("/a")


def test_get_rebase_name() -> None:
    assert cp_paths.get_rebase_name("/link", "/real/target") == ("/real/target", "link")
    assert cp_paths.get_rebase_name("/link/", "/real") == ("/real/", "link")
    assert cp_paths.get_rebase_name("/link/.", "/real") == ("/real/.", "")
    assert cp_paths.get_rebase_name("/same", "/x/same") == ("/x/same", "")


# -- cp: where the source lands -------------------------------------------------------------

FILE = cp_paths.CopyInfo("/src/file", exists=True)
DIR = cp_paths.CopyInfo("/src/dir", exists=True, is_dir=True)
DOT = cp_paths.CopyInfo("/src/dir/.", exists=True, is_dir=True)


@pytest.mark.parametrize(
    ("src", "dst", "plan"),
    [
        # into an existing directory: as they are (a directory nests)
        (FILE, cp_paths.CopyInfo("/d", True, True), cp_paths.CopyPlan("/d", None)),
        (DIR, cp_paths.CopyInfo("/d", True, True), cp_paths.CopyPlan("/d", None)),
        # SRC/. into an existing directory: entries "." and "./x": the contents
        (DOT, cp_paths.CopyInfo("/d", True, True), cp_paths.CopyPlan("/d", None)),
        # onto an existing file / to a new name: renamed
        (FILE, cp_paths.CopyInfo("/d/f", True, False), cp_paths.CopyPlan("/d", ("file", "f"))),
        (FILE, cp_paths.CopyInfo("/d/new"), cp_paths.CopyPlan("/d", ("file", "new"))),
        (DIR, cp_paths.CopyInfo("/d/new"), cp_paths.CopyPlan("/d", ("dir", "new"))),
        (DIR, cp_paths.CopyInfo("/d/new/"), cp_paths.CopyPlan("/d", ("dir", "new"))),
        (DOT, cp_paths.CopyInfo("/d/new"), cp_paths.CopyPlan("/d", (".", "new"))),
        # a followed link keeps the name it was asked by
        (
            cp_paths.CopyInfo("/real/t", True, False, rebase_name="link"),
            cp_paths.CopyInfo("/d/x"),
            cp_paths.CopyPlan("/d", ("link", "x")),
        ),
    ],
)
def test_prepare_archive_copy(
    src: cp_paths.CopyInfo, dst: cp_paths.CopyInfo, plan: cp_paths.CopyPlan
) -> None:
    assert cp_paths.prepare_archive_copy(src, dst) == plan


def test_prepare_archive_copy_errors() -> None:
    with pytest.raises(cp_paths.CopyError, match=r"^cannot copy directory$"):
        cp_paths.prepare_archive_copy(DIR, cp_paths.CopyInfo("/d/f", True, False))
    with pytest.raises(cp_paths.CopyError, match=r"^no such directory$"):
        cp_paths.prepare_archive_copy(FILE, cp_paths.CopyInfo("/d/new/"))
    with pytest.raises(cp_paths.CopyError, match=r"^no such directory$"):
        cp_paths.prepare_archive_copy(FILE, cp_paths.CopyInfo("/d/new/."))


@pytest.mark.parametrize(
    ("name", "old", "new", "want"),
    [
        ("dir", "dir", "x", "x"),
        ("dir/a/b", "dir", "x", "x/a/b"),
        ("dir/", "dir", "x", "x"),
        ("dirt/a", "dir", "x", None),
        (".", ".", "x", "x"),
        ("./a", ".", "x", "x/a"),
        ("a", ".", "x", "x/a"),
    ],
)
def test_rebase_name(name: str, old: str, new: str, want: str | None) -> None:
    assert cp_paths.rebase_name(name, old, new) == want


def test_rebase_moves_hard_links_too() -> None:
    f = tarfile.TarInfo("dir/f")
    h = tarfile.TarInfo("dir/h")
    h.type, h.linkname = tarfile.LNKTYPE, "dir/f"
    out = [i for i, _ in cp_paths.rebase(iter([(f, None), (h, None)]), "dir", "new")]
    assert [i.name for i in out] == ["new/f", "new/h"]
    assert out[1].linkname == "new/f"


# -- cp: the walker and the extractor on real trees --------------------------------------------


ME = (os.getuid(), os.getgid())  # files extracted here are ours (no root needed)


def _tree(tmp_path: Path) -> Path:
    """A fake container root with links that lead out of it if followed on the host."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "etc" / "hostname").write_text("inside\n")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "sub" / "f").write_text("hello")
    os.link(root / "data" / "sub" / "f", root / "data" / "hard")
    os.symlink("/", root / "escape")
    os.symlink("../../../../../../etc", root / "data" / "up")
    os.symlink("/proc/self/root/etc", root / "magic")
    return root


@pytest.fixture(params=["openat2", "walk"])
def force_walk(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "walk")


def _root(path: Path, force_walk: bool) -> fs_root.FsRoot:
    root = fs_root.FsRoot.at(path)
    root.force_walk = force_walk
    return root


def test_resolution_stays_in_root(tmp_path: Path, force_walk: bool) -> None:
    tree = _tree(tmp_path)
    with _root(tree, force_walk) as root:
        for path in ("/escape/etc/hostname", "/data/up/hostname", "/../../etc/hostname"):
            fd = root.open(path, os.O_RDONLY)
            try:
                assert os.read(fd, 100) == b"inside\n", path
            finally:
                os.close(fd)
        assert root.resolve("/data/up/hostname") == "/etc/hostname"
        assert root.resolve("/escape/nonexistent/../x") == "/x"
        with pytest.raises(FileNotFoundError):
            root.resolve("/escape/nonexistent", strict=True)
        # a magic link cannot be used (openat2) or is read as text, inside the root (walk)
        try:
            fd = root.open("/magic/hostname", os.O_RDONLY)
        except OSError:
            pass
        else:
            try:
                assert os.read(fd, 100) == b"inside\n"
            finally:
                os.close(fd)
        fd = root.open("/escape", os.O_PATH, follow=False)
        try:
            assert os.readlink("", dir_fd=fd) == "/"
        finally:
            os.close(fd)


def test_archive_names_and_links(tmp_path: Path, force_walk: bool) -> None:
    tree = _tree(tmp_path)
    with _root(tree, force_walk) as root:
        st, entries = fs_tar.archive(root, "/data", "data")
        got = {i.name: (i, d.read() if d is not None else None) for i, d in entries}
    assert st.is_dir
    assert set(got) == {"data", "data/hard", "data/sub", "data/sub/f", "data/up"}
    kinds = {n: i.type for n, (i, _) in got.items()}
    assert kinds["data/up"] == tarfile.SYMTYPE and got["data/up"][0].linkname.startswith("../")
    # the second name of a file is a hard link to the first (by name order)
    assert {kinds["data/hard"], kinds["data/sub/f"]} == {tarfile.REGTYPE, tarfile.LNKTYPE}
    with _root(tree, force_walk) as root:
        st, entries = fs_tar.archive(root, "/escape/etc/hostname", "hostname")
        files = [(i, d.read() if d is not None else None) for i, d in entries]
        assert [(i.name, i.size, data) for i, data in files] == [("hostname", 7, b"inside\n")]
        st = fs_root.stat_path(root, "/data/up")
        assert st.is_symlink and st.link_target == "/etc"


def _entries(*items: tuple[str, bytes | str | None]) -> list[fs_tar.Entry]:
    """(name, bytes) files, (name/, None) directories, (name, "->target") symlinks."""
    out: list[fs_tar.Entry] = []
    for name, data in items:
        info = tarfile.TarInfo(name.rstrip("/"))
        info.mtime = 1_700_000_000
        if data is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            out.append((info, None))
        elif isinstance(data, str):
            info.type, info.linkname = tarfile.SYMTYPE, data[2:]
            out.append((info, None))
        else:
            info.size, info.mode = len(data), 0o640
            out.append((info, io.BytesIO(data)))
    return out


def test_extract_through_links_stays_in_root(tmp_path: Path, force_walk: bool) -> None:
    tree = _tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tree / "outside").mkdir()  # where ../../outside leads inside the root
    rel_out = os.path.relpath(outside, tree / "tmp")
    items = _entries(
        ("lnk", "->/"),
        ("lnk/etc/planted", b"x"),
        ("up", f"->{rel_out}"),
        ("up/planted", b"y"),
        ("new/dir/", None),
        ("new/dir/file", b"z"),
    )
    with _root(tree, force_walk) as root:
        n = fs_tar.Extractor(root, "/tmp", ME).run(items)
    assert n > 0
    assert (tree / "etc" / "planted").read_bytes() == b"x"
    assert not (outside / "planted").exists()
    # ../.. from /tmp stops at the root: the file went to the root's own /outside
    assert (tree / "outside" / "planted").read_bytes() == b"y"
    assert (tree / "tmp" / "new" / "dir" / "file").read_bytes() == b"z"
    st = os.stat(tree / "tmp" / "new" / "dir" / "file")
    assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o640, 1_700_000_000)
    assert int(os.stat(tree / "tmp" / "new" / "dir").st_mtime) == 1_700_000_000


def test_extract_refuses_climbing_and_type_changes(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    with fs_root.FsRoot.at(tree) as root:
        with pytest.raises(InvalidContent, match="climbs out"):
            fs_tar.Extractor(root, "/tmp", ME).run(_entries(("../../x", b"bad")))
        with pytest.raises(Conflict, match="cannot overwrite directory"):
            fs_tar.Extractor(root, "/", ME).run(_entries(("data", b"file over a dir")))
        with pytest.raises(Conflict, match="cannot overwrite non-directory"):
            fs_tar.Extractor(root, "/", ME).run(_entries(("etc/hostname/", None)))
        # a symlink at the destination name is replaced, never written through
        fs_tar.Extractor(root, "/", ME).run(_entries(("escape", b"now a file")))
    assert (tree / "escape").read_bytes() == b"now a file"


def test_tar_round_trip(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    buf = io.BytesIO()
    with fs_root.FsRoot.at(tree) as root:
        _, entries = fs_tar.archive(root, "/data/.", ".")
        fs_tar.write_tar(entries, buf)
    dest = tmp_path / "dest"
    dest.mkdir()
    buf.seek(0)
    with fs_root.FsRoot.at(dest) as root:
        fs_tar.Extractor(root, "/", ME).run(fs_tar.read_tar(buf))
    assert (dest / "sub" / "f").read_text() == "hello"
    assert os.path.samefile(dest / "sub" / "f", dest / "hard")
    assert os.readlink(dest / "up") == "../../../../../../etc"
    with pytest.raises(InvalidContent, match="Error processing tar file"):
        list(fs_tar.read_tar(io.BytesIO(b"garbage" * 100)))


def test_local_copy_infos(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "f").write_text("x")
    os.symlink("dir", tmp_path / "link")
    info = cfs.copy_info_source(f"{tmp_path}/link", follow=False)
    assert not info.is_dir and info.rebase_name == ""
    info = cfs.copy_info_source(f"{tmp_path}/link", follow=True)
    assert info.is_dir and info.rebase_name == "link" and info.path == f"{tmp_path}/dir"
    info = cfs.copy_info_source(f"{tmp_path}/link/", follow=False)
    assert info.is_dir and info.rebase_name == "link"
    with pytest.raises(cp_paths.CopyError, match="no such file or directory"):
        cfs.copy_info_source(f"{tmp_path}/missing", follow=False)
    assert cfs.copy_info_destination(f"{tmp_path}/link") == cp_paths.CopyInfo(
        f"{tmp_path}/dir", exists=True, is_dir=True
    )
    assert cfs.copy_info_destination(f"{tmp_path}/new") == cp_paths.CopyInfo(f"{tmp_path}/new")
    with pytest.raises(cp_paths.CopyError):
        cfs.copy_info_destination(f"{tmp_path}/nodir/new")
    with pytest.raises(cp_paths.CopyError, match="does not exist"):
        cfs.validate_output_path(f"{tmp_path}/nodir/new")
    with pytest.raises(cp_paths.CopyError, match="must be a directory or a regular file"):
        cfs.validate_output_path("/dev/null")


def test_human_size4() -> None:
    assert human_size(2048, 4) == "2.048kB"
    assert human_size(0, 4) == "0B"
    assert human_size(1_234_567, 4) == "1.235MB"


# -- stats ------------------------------------------------------------------------------------


def _sample(cpu: int, system: int, **kw: int) -> cst.Sample:
    base = dict(online_cpus=2, memory=0, memory_limit=0, net_rx=0, net_tx=0,
                block_read=0, block_write=0, pids=0)  # fmt: skip
    base.update(kw)
    return cst.Sample(cpu_ns=cpu, system_ns=system, **base)


def test_cpu_percent() -> None:
    prev = _sample(1_000_000_000, 10_000_000_000)
    cur = _sample(1_500_000_000, 12_000_000_000)
    # 0.5 s of CPU over 2 s of host time on 2 CPUs: 50% of one CPU
    assert cst.cpu_percent(prev, cur) == pytest.approx(50.0)
    assert cst.cpu_percent(None, cur) == 0.0
    assert cst.cpu_percent(cur, cur) == 0.0


def test_memory_math() -> None:
    assert cst.usage_without_cache(1000, {"total_inactive_file": 300}) == 700
    assert cst.usage_without_cache(1000, {"inactive_file": 400}) == 600
    assert cst.usage_without_cache(1000, {"total_inactive_file": 2000}) == 1000
    stat = cst.parse_memory_stat("cache 4096\ntotal_inactive_file 8192\nbad line\n")
    assert stat == {"cache": 4096, "total_inactive_file": 8192}
    s = cst.compute("id", "n", None, _sample(0, 0, memory=64 << 20, memory_limit=256 << 20))
    assert s.memory_percent == pytest.approx(25.0)
    assert cst.compute("id", "n", None, None) == cst.Stats("id", "n")


def test_parse_net_dev_and_proc_stat() -> None:
    text = (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
        "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
        "  eth0: 2048 5 0 0 0 0 0 0 4096 7 0 0 0 0 0 0\n"
        "  eth1: 2 1 0 0 0 0 0 0 3 1 0 0 0 0 0 0\n"
    )
    assert cst.parse_net_dev(text) == (2050, 4099)
    assert cst.parse_net_dev(text.split("    lo")[0]) == (0, 0)
    hz = cst.clock_ticks()
    assert cst.system_cpu_ns(f"cpu  {hz} 0 {hz} {hz} 0 0 0 {hz} 0 0\n") == 3 * 10**9


def test_stats_row_texts() -> None:
    s = cst.Stats("a" * 64, "web", 12.345, 1536 * 1024, 2 << 30, 0.07, 1234, 0, 10**6, 0, 3)
    row = stats_row(s, "web")
    assert row == {
        "BlockIO": "1MB / 0B",
        "CPUPerc": "12.35%",
        "Container": "web",
        "ID": "a" * 12,
        "MemPerc": "0.07%",
        "MemUsage": "1.5MiB / 2GiB",
        "Name": "web",
        "NetIO": "1.23kB / 0B",
        "PIDs": "3",
    }
    assert stats_row(s, "web", trunc=False)["ID"] == "a" * 64
    bad = stats_row(cst.Stats("b" * 64, "x", valid=False), "x")
    assert (bad["CPUPerc"], bad["MemUsage"], bad["PIDs"]) == ("--", "-- / --", "--")
    assert bytes_size(0) == "0B" and bytes_size(1023) == "1023B"
    assert bytes_size(123.4567 * 1024 * 1024) == "123.5MiB"


# -- top ----------------------------------------------------------------------------------------


def test_top_columns() -> None:
    assert cst.tty_name(0) == "?"
    assert cst.tty_name(os.makedev(136, 3)) == "pts/3"
    assert cst.tty_name(os.makedev(137, 1)) == "pts/257"
    assert cst.tty_name(os.makedev(4, 1)) == "tty1"
    assert cst.tty_name(os.makedev(4, 65)) == "ttyS1"
    assert cst.cpu_time(62) == "00:01:02"
    assert cst.cpu_time(2 * 86400 + 3661) == "2-01:01:01"
    now = time.mktime((2024, 6, 15, 12, 0, 0, 0, 0, -1))
    assert cst.start_time(now - 3600, now) == "11:00"
    assert cst.start_time(now - 3 * 86400, now) == "Jun12"
    assert cst.start_time(now - 400 * 86400, now) == "2023"


def test_ps_ef_of_this_process() -> None:
    table = cst.ps_ef([os.getpid(), 2**22 + 12345])  # the second does not exist
    assert table.titles == cst.PS_EF_TITLES
    [row] = table.processes
    assert row[1] == str(os.getpid()) and row[2] == str(os.getppid())
    assert "pytest" in row[7] or "python" in row[7]


def test_parse_ps_output() -> None:
    out = (
        "USER  PID %CPU COMMAND\n"
        "root    1  0.0 /sbin/init splash\n"
        "root   42  1.0 sleep 100\n"
        "root    -  0.5 -\n"
        "root   43  0.0 other thing\n"
        "root    -  0.0 -\n"
    )
    table = cst.parse_ps_output(out, [42])
    assert table.titles == ("USER", "PID", "%CPU", "COMMAND")
    assert table.processes == (("root", "42", "1.0", "sleep 100"), ("root", "-", "0.5", "-"))
    with pytest.raises(Exception, match="Couldn't find PID field"):
        cst.parse_ps_output("USER CMD\n", [1])
    with pytest.raises(InvalidArgument, match='specifying "pid,user=PID" is not allowed'):
        cst.validate_ps_args(["-o", "pid,user=PID"])
    cst.validate_ps_args(["-o", "pid=PID,args"])


# -- port ---------------------------------------------------------------------------------------


def test_port_lines() -> None:
    bindings = [
        PortBinding(80, "tcp", "", 8080),
        PortBinding(80, "tcp", "::", 8080),
        PortBinding(53, "udp", "127.0.0.1", 5353),
        PortBinding(80, "tcp", "", 8080),  # the same twice: once
    ]
    assert port_lines(bindings) == [
        "53/udp -> 127.0.0.1:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> [::]:8080",
    ]
    assert port_lines(bindings, "80") == ["0.0.0.0:8080", "[::]:8080"]
    assert port_lines(bindings, "53/udp") == ["127.0.0.1:5353"]
    assert port_lines([]) == []
    with pytest.raises(LookupError, match="53/tcp"):
        port_lines(bindings, "53")


# -- update ---------------------------------------------------------------------------------------


def test_update_validation() -> None:
    req = ContainerCreate(image="busybox")
    with pytest.raises(InvalidArgument, match="Minimum memory limit allowed is 6MB"):
        validate(ContainerUpdate(memory=1 << 20), req)
    with pytest.raises(InvalidArgument, match="always set the Memory limit"):
        validate(ContainerUpdate(memory_swap=100 << 20), req)
    with pytest.raises(InvalidArgument, match="should be larger than memory limit"):
        validate(ContainerUpdate(memory=200 << 20, memory_swap=100 << 20), req)
    with_swap = ContainerCreate(image="busybox", memory=64 << 20, memory_swap=128 << 20)
    with pytest.raises(Conflict, match="update the memoryswap at the same time"):
        validate(ContainerUpdate(memory=256 << 20), with_swap)
    validate(ContainerUpdate(memory=256 << 20, memory_swap=-1), with_swap)
    with pytest.raises(InvalidArgument, match=r"Range of CPUs is from 0\.01 to 2\.00"):
        validate(ContainerUpdate(nano_cpus=3 * 10**9), req, cpus=2)
    auto = ContainerCreate(image="busybox", auto_remove=True)
    with pytest.raises(InvalidArgument, match="AutoRemove is enabled"):
        validate(ContainerUpdate(restart=RestartPolicy("always")), auto)
    validate(ContainerUpdate(restart=RestartPolicy("no")), auto)


def test_update_apply_and_resources() -> None:
    req = ContainerCreate(image="busybox", memory=64 << 20, pids_limit=10, nano_cpus=10**9)
    upd = ContainerUpdate(
        memory=128 << 20, nano_cpus=0, pids_limit=-1, restart=RestartPolicy("on-failure", 2)
    )
    new = apply(upd, req)
    assert (new.memory, new.nano_cpus, new.pids_limit) == (128 << 20, None, None)
    assert new.restart == RestartPolicy("on-failure", 2)
    assert new.image == "busybox"
    assert change_resources(upd) == Resources(128 << 20, -1, 100_000, None, -1)
    assert full_resources(new) == Resources(128 << 20, None, None, None, None)
    assert full_resources(apply(ContainerUpdate(nano_cpus=5 * 10**8), new)) == Resources(
        128 << 20, 50_000, 100_000, None, None
    )
    assert ContainerUpdate().empty() and not ContainerUpdate(cpu_shares=2).empty()
    assert not ContainerUpdate(restart=RestartPolicy()).resources_changed
