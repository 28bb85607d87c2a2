"""-u user[:group] resolution against passwd/group files, and paths inside a rootfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.paths import secure_join
from dockyard.runtime.users import (
    GroupEntry,
    PasswdEntry,
    ResolvedUser,
    parse_group,
    parse_passwd,
    resolve,
    resolve_user,
)

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

broken line
bad:x:notanumber:0::/:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """\
root:x:0:
daemon:x:1:
www-data:x:33:app
staff:x:50:app,daemon
app:x:1000:
nogroup:x:65534:
"""
P, G = parse_passwd(PASSWD), parse_group(GROUP)


def test_parse() -> None:
    assert P[0] == PasswdEntry("root", 0, 0, "/root", "/bin/sh")
    assert [p.name for p in P] == ["root", "daemon", "www-data", "app", "nobody"]
    assert GroupEntry("staff", 50, ("app", "daemon")) in G


@pytest.mark.parametrize(
    "spec, want",
    [
        ("", ResolvedUser(0, 0, (), "/root")),
        ("root", ResolvedUser(0, 0, (), "/root")),
        ("nobody", ResolvedUser(65534, 65534, (), "/nonexistent")),
        ("app", ResolvedUser(1000, 1000, (33, 50), "/home/app")),
        ("1000", ResolvedUser(1000, 1000, (33, 50), "/home/app")),
        ("4242", ResolvedUser(4242, 0, (), "/")),
        ("app:staff", ResolvedUser(1000, 50, (), "/home/app")),
        ("app:50", ResolvedUser(1000, 50, (), "/home/app")),
        ("4242:4343", ResolvedUser(4242, 4343, (), "/")),
        ("nobody:nogroup", ResolvedUser(65534, 65534, (), "/nonexistent")),
    ],
)
def test_resolve(spec: str, want: ResolvedUser) -> None:
    assert resolve(spec, P, G) == want


def test_unknown_user_has_dockers_message() -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve("xyz", P, G)
    assert str(e.value) == "unable to find user xyz: no matching entries in passwd file"


def test_unknown_group_has_dockers_message() -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve("app:xyz", P, G)
    assert str(e.value) == "unable to find group xyz: no matching entries in group file"


def test_group_add() -> None:
    assert resolve("nobody", P, G, ["staff", "777"]).additional_gids == (50, 777)
    with pytest.raises(InvalidArgument, match="Unable to find group nope"):
        resolve("nobody", P, G, ["nope"])


def test_out_of_range_id() -> None:
    with pytest.raises(InvalidArgument, match="range"):
        resolve("99999999999", P, G)


def test_resolve_user_reads_rootfs_files(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    assert resolve_user(tmp_path, "app").uid == 1000
    assert resolve_user(tmp_path, "app").user.additional_gids == (33, 50)


def test_resolve_user_without_files(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "123:456") == ResolvedUser(123, 456, (), "/")
    with pytest.raises(InvalidArgument):
        resolve_user(tmp_path, "root")  # no passwd file: names cannot resolve


def test_passwd_symlink_cannot_escape_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").symlink_to("../../outside/passwd")
    with pytest.raises(InvalidArgument):
        resolve_user(root, "evil")


def test_secure_join(tmp_path: Path) -> None:
    r = tmp_path / "r"
    (r / "a/b").mkdir(parents=True)
    (r / "link_abs").symlink_to("/a")
    (r / "link_up").symlink_to("../../../../a/b")
    (r / "a/loop").symlink_to("loop")
    root = str(r)
    assert secure_join(root, "/a/b") == f"{root}/a/b"
    assert secure_join(root, "link_abs/b") == f"{root}/a/b"
    assert secure_join(root, "/link_up") == f"{root}/a/b"
    assert secure_join(root, "/../../etc/passwd") == f"{root}/etc/passwd"
    assert secure_join(root, "/missing/x") == f"{root}/missing/x"
    assert secure_join(root, "/") == root
    assert secure_join("/", "/a/../b") == "/b"
    with pytest.raises(InvalidArgument, match="symbolic links"):
        secure_join(root, "/a/loop")
    assert os.path.isdir(secure_join(root, "link_abs"))
