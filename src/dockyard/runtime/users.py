"""Resolve ``-u user[:group]`` against a rootfs's /etc/passwd and /etc/group.

Semantics follow runc's ``GetExecUser`` (what Docker uses): a numeric user is
always a UID and need not exist in passwd; a name must exist; with no explicit
group the primary group comes from passwd and the supplementary groups are the
/etc/group entries listing the user; an explicit group replaces the primary
group and there are no supplementary groups. Errors use Docker's wording.
"""

from __future__ import annotations

import os

from dockyard._util.record import DataRecord
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import User
from dockyard.runtime.paths import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_MAX_ID = 2**31 - 1


class PasswdEntry(DataRecord):
    """One /etc/passwd line."""

    __slots__ = ("name", "uid", "gid", "home", "shell")  # noqa: RUF023 (field order)
    name: str
    uid: int
    gid: int
    home: str
    shell: str

    def __init__(
        self,
        name: str,
        uid: int,
        gid: int,
        home: str,
        shell: str,
    ) -> None:
        self._set(name=name, uid=uid, gid=gid, home=home, shell=shell)


class GroupEntry(DataRecord):
    """One /etc/group line."""

    __slots__ = ("name", "gid", "members")  # noqa: RUF023 (field order)
    name: str
    gid: int
    members: tuple[str, ...]

    def __init__(
        self,
        name: str,
        gid: int,
        members: tuple[str, ...],
    ) -> None:
        self._set(name=name, gid=gid, members=members)


class ResolvedUser(DataRecord):
    """The outcome of resolving ``-u``: IDs and the home directory."""

    __slots__ = ("uid", "gid", "additional_gids", "home")  # noqa: RUF023 (field order)
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str

    def __init__(
        self,
        uid: int,
        gid: int,
        additional_gids: tuple[int, ...] = (),
        home: str = "/",
    ) -> None:
        self._set(uid=uid, gid=gid, additional_gids=additional_gids, home=home)

    @property
    def user(self) -> User:
        """As the spec's ``process.user``."""
        return User(self.uid, self.gid, self.additional_gids)


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of a passwd file; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        f = line.strip().split(":")
        if len(f) < 4 or not f[0]:
            continue
        try:
            uid, gid = int(f[2]), int(f[3])
        except ValueError:
            continue
        out.append(
            PasswdEntry(f[0], uid, gid, f[5] if len(f) > 5 else "", f[6] if len(f) > 6 else "")
        )
    return out


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of a group file; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        f = line.strip().split(":")
        if len(f) < 3 or not f[0]:
            continue
        try:
            gid = int(f[2])
        except ValueError:
            continue
        members = tuple(m for m in f[3].split(",") if m) if len(f) > 3 else ()
        out.append(GroupEntry(f[0], gid, members))
    return out


def _numeric(text: str) -> int | None:
    if not text.isdigit():
        return None
    n = int(text)
    if n > _MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{_MAX_ID}")
    return n


def resolve(
    spec: str,
    passwd: Sequence[PasswdEntry],
    groups: Sequence[GroupEntry],
    group_add: Sequence[str] = (),
) -> ResolvedUser:
    """Resolve ``user[:group]`` (names or numbers; "" means root) against parsed files."""
    user_arg, _, group_arg = spec.partition(":")
    uid_num = _numeric(user_arg) if user_arg else 0
    uid, gid, home, matched_name = 0, 0, "/", ""
    for p in passwd:
        if (p.uid == uid_num) if uid_num is not None else (p.name == user_arg):
            uid, gid, home, matched_name = p.uid, p.gid, p.home or "/", p.name
            break
    else:
        if uid_num is None:
            raise InvalidArgument(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        uid = uid_num
    sgids: list[int] = []
    if group_arg:
        gid_num = _numeric(group_arg)
        for g in groups:
            if (g.gid == gid_num) if gid_num is not None else (g.name == group_arg):
                gid = g.gid
                break
        else:
            if gid_num is None:
                raise InvalidArgument(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            gid = gid_num
    elif matched_name:
        sgids = [g.gid for g in groups if matched_name in g.members]
    for extra in group_add:
        found = [g.gid for g in groups if g.name == extra]
        if found:
            sgids.append(found[0])
            continue
        num = _numeric(extra)
        if num is None:
            raise InvalidArgument(
                f"Unable to find group {extra}: no matching entries in group file"
            )
        sgids.append(num)
    return ResolvedUser(uid, gid, tuple(dict.fromkeys(sgids)), home)


def _read(root: str, rel: str) -> str:
    try:
        with open(secure_join(root, rel), encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return ""


def resolve_user(
    root: str | os.PathLike[str], spec: str, group_add: Sequence[str] = ()
) -> ResolvedUser:
    """Resolve ``spec`` against ``root``/etc/passwd and ``root``/etc/group.

    ``root`` may be a rootfs directory on the host, ``/proc/<pid>/root`` of a
    running container, or ``/`` inside the container. Symlinks are resolved
    inside ``root``. Missing files behave as empty files.
    """
    r = os.fspath(root)
    return resolve(
        spec, parse_passwd(_read(r, "/etc/passwd")), parse_group(_read(r, "/etc/group")), group_add
    )
