import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dockyard.errors import InvalidContent, NotFound
from dockyard.image.content import ContentStore
from dockyard.oci.digest import Digest


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    s = ContentStore(tmp_path / "content")
    s.init()
    return s


def test_put_read_and_layout(store: ContentStore) -> None:
    info = store.put(b"hello")
    assert info.digest == Digest.of_bytes(b"hello")
    assert store.read(info.digest) == b"hello"
    assert (store.root / "oci-layout").read_text() == '{"imageLayoutVersion":"1.0.0"}'
    assert store.path(info.digest).parent == store.root / "blobs" / "sha256"
    assert [b.digest for b in store.walk()] == [info.digest]


def test_missing_blob(store: ContentStore) -> None:
    with pytest.raises(NotFound):
        store.read(Digest.of_bytes(b"nope"))


def test_digest_mismatch_leaves_nothing(store: ContentStore) -> None:
    wrong = Digest.of_bytes(b"other")
    with store.writer(expected=wrong) as w:
        w.write(b"data")
        with pytest.raises(InvalidContent, match="digest mismatch"):
            w.commit()
    assert list(store.walk()) == []
    assert list(store.ingest_dir.iterdir()) == []


def test_size_mismatch_leaves_nothing(store: ContentStore) -> None:
    with store.writer(expected_size=10) as w:
        w.write(b"short")
        with pytest.raises(InvalidContent, match="size mismatch"):
            w.commit(source="layer.tar")
    assert list(store.walk()) == []


def test_exception_mid_write_aborts(store: ContentStore) -> None:
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert list(store.ingest_dir.iterdir()) == []
    assert list(store.walk()) == []


def test_two_writers_of_one_blob(store: ContentStore) -> None:
    data = os.urandom(1 << 20)
    expected = Digest.of_bytes(data)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with store.writer(expected, len(data)) as w:
                for i in range(0, len(data), 4096):
                    w.write(data[i : i + 4096])
                w.commit()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.read(expected) == data
    assert list(store.ingest_dir.iterdir()) == []


def test_kill_9_mid_write_leaves_no_readable_blob(store: ContentStore, tmp_path: Path) -> None:
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parents[2] / "src")!r})
from pathlib import Path
from dockyard.image.content import ContentStore
s = ContentStore(Path({str(store.root)!r}))
w = s.writer()
w.write(b"x" * 100000)
print("written", flush=True)
time.sleep(60)
w.commit()
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"written"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert list(store.walk()) == []
    leftovers = list(store.ingest_dir.iterdir())
    assert len(leftovers) == 1
    old = time.time() - 7200
    os.utime(leftovers[0], (old, old))
    store.clean_ingest()
    assert list(store.ingest_dir.iterdir()) == []
    info = store.put(b"x" * 100000)
    assert info.digest.hex == hashlib.sha256(b"x" * 100000).hexdigest()
