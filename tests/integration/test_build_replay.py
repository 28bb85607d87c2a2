"""A fully cached build answered from its replay record (build/replay.py,
engine/build_replay.py): the same output as the step-by-step cache, the same
image, and a miss on any change of an input; and the path imports neither the
Dockerfile parser nor the dispatcher (start-up is a feature).

Every command runs in a fresh ``python -X importtime -m dockyard`` on a private
root: whether ``dockyard.build.dispatch`` was imported tells a replay from a
step-by-step build.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

# What a replayed build never imports: the parser, the dispatcher, the events and
# what only they need.
REPLAY_NEVER = (
    "argparse",
    "typing",
    "dataclasses",
    "inspect",
    "hashlib",
    "tempfile",
    "shutil",
    "subprocess",
    "threading",
    "tarfile",
    "dockyard.dockerfile.instructions",
    "dockyard.dockerfile.parser",
    "dockyard.dockerfile.stages",
    "dockyard.build.dispatch",
    "dockyard.build.events",
    "dockyard.build.context",
    "dockyard.build.hashing",
    "dockyard.engine.builds",
    "dockyard.engine.containers",
    "dockyard.oci.image",
    "dockyard.runtime",
    "dockyard.storage",
)

# What a cold, step-by-step build (COPY and RUN, --no-cache) never imports: the
# builder's classes are made without dataclasses (dockyard._util.litedc) and its
# annotations stay strings. A regression here costs a cold build 5-15 ms.
COLD_NEVER = (
    "argparse",
    "typing",
    "dataclasses",
    "inspect",
    "ast",
    "secrets",
    "hmac",
    "tempfile",
)

DOCKERFILE = """\
FROM busybox
ARG V=1
COPY a.txt /a.txt
RUN echo built-$V > /built
LABEL v=$V
"""


def build(argv: list[str], *args: str) -> tuple[str, str, bool]:
    """(stdout, stderr without importtime's lines, replayed)."""
    cmd = [argv[0], "-X", "importtime", *argv[1:], "build", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    names = set()
    err = []
    for line in proc.stderr.splitlines(keepends=True):
        if line.startswith("import time:"):
            if "|" in line:
                names.add(line.rsplit("|", 1)[1].strip())
        else:
            err.append(line)
    replayed = "dockyard.build.dispatch" not in names
    if replayed:
        found = sorted(n for n in names for p in REPLAY_NEVER if n == p or n.startswith(p + "."))
        assert not found, f"imported on the cached-build path: {found}"
    return proc.stdout, "".join(err), replayed


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / ".dockerignore").write_text("ignored*\n")
    (tmp_path / "ignored.txt").write_text("x\n")
    return tmp_path


def test_replay_prints_what_the_step_path_printed(dockyard: list[str], ctx: Path) -> None:
    tag = ["-t", "dyrep-out:1", "-t", "dyrep-out:2"]
    cold, _, replayed = build(dockyard, *tag, "--build-arg", "UNUSED=1", str(ctx))
    assert not replayed and "Running in" in cold
    cached, cached_err, replayed = build(dockyard, *tag, "--build-arg", "UNUSED=1", str(ctx))
    assert not replayed and cached.count(" ---> Using cache") == 4  # recorded now
    again, again_err, replayed = build(dockyard, *tag, "--build-arg", "UNUSED=1", str(ctx))
    assert replayed
    assert again == cached and again_err == cached_err
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in again
    assert "Successfully tagged dyrep-out:2" in again
    # -q and --iidfile: the id only, the unused-arg warning on stderr as before
    iid = ctx.parent / "iid"
    quiet, quiet_err, replayed = build(
        dockyard, "-q", "--iidfile", str(iid), "--build-arg", "UNUSED=1", *tag, str(ctx)
    )
    assert replayed
    image_id = quiet.strip()
    assert f"Successfully built {image_id[7:19]}" in cached
    assert iid.read_text() == image_id
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in quiet_err
    # the tags were (re)applied by the replay
    subprocess.run([*dockyard, "rmi", "dyrep-out:2"], check=True, capture_output=True)
    _, _, replayed = build(dockyard, *tag, "--build-arg", "UNUSED=1", str(ctx))
    assert replayed
    out = subprocess.run(
        [*dockyard, "image", "inspect", "-f", "{{.Id}}", "dyrep-out:2"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == image_id
    # --explain, --no-cache and --progress=plain take the step path
    out, _, replayed = build(dockyard, "--explain", "--build-arg", "UNUSED=1", *tag, str(ctx))
    assert not replayed and "[explain] 4 of 4 steps from cache" in out
    _, _, replayed = build(dockyard, "--progress=plain", "--build-arg", "UNUSED=1", *tag, str(ctx))
    assert not replayed
    subprocess.run([*dockyard, "rmi", "-f", "dyrep-out:1", "dyrep-out:2"], capture_output=True)


def test_any_changed_input_is_a_miss(dockyard: list[str], ctx: Path) -> None:
    first, _, _ = build(dockyard, "-q", str(ctx))
    build(dockyard, "-q", str(ctx))
    out, _, replayed = build(dockyard, "-q", str(ctx))
    assert replayed and out == first
    # an ignored file is not an input
    (ctx / "ignored.txt").write_text("y\n")
    assert build(dockyard, "-q", str(ctx))[2]
    # touched: the step cache still hits (content hashes); the replay key does not
    os.utime(ctx / "a.txt", (1, 1))
    out, _, replayed = build(dockyard, "-q", str(ctx))
    assert not replayed and out == first
    assert build(dockyard, "-q", str(ctx)) == (first, "", True)
    # a new file in the context (COPY . would see it)
    (ctx / "new.txt").write_text("n\n")
    out, _, replayed = build(dockyard, "-q", str(ctx))
    assert not replayed and out == first
    # a build arg, a label, the target: misses; the step path decides
    out, _, replayed = build(dockyard, "-q", "--build-arg", "V=2", str(ctx))
    assert not replayed and out != first
    build(dockyard, "-q", "--build-arg", "V=2", str(ctx))
    assert build(dockyard, "-q", "--build-arg", "V=2", str(ctx))[2]
    assert not build(dockyard, "-q", "--label", "x=y", str(ctx))[2]
    # edited content
    (ctx / "a.txt").write_text("b\n")
    out, _, replayed = build(dockyard, "-q", str(ctx))
    assert not replayed and out != first
    second = out
    build(dockyard, "-q", str(ctx))
    assert build(dockyard, "-q", str(ctx)) == (second, "", True)
    # the Dockerfile
    (ctx / "Dockerfile").write_text(DOCKERFILE + "ENV X=1\n")
    assert not build(dockyard, "-q", str(ctx))[2]
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    assert build(dockyard, "-q", str(ctx)) == (second, "", False)  # a new ctime
    assert build(dockyard, "-q", str(ctx)) == (second, "", True)
    # --no-cache / --pull bypass it; --no-cache re-points the step cache, so the
    # record (which named the old images) no longer answers
    third, _, replayed = build(dockyard, "-q", "--no-cache", str(ctx))
    assert not replayed and third != second
    assert build(dockyard, "-q", str(ctx)) == (third, "", False)
    assert build(dockyard, "-q", str(ctx)) == (third, "", True)
    assert build(dockyard, "-q", "--pull", str(ctx)) == (third, "", False)


def test_removed_image_or_cache_or_moved_base_is_a_miss(dockyard: list[str], ctx: Path) -> None:
    build(dockyard, "-q", "-t", "dyrep-gone", str(ctx))
    build(dockyard, "-q", "-t", "dyrep-gone", str(ctx))
    assert build(dockyard, "-q", "-t", "dyrep-gone", str(ctx))[2]
    # the image removed (its untagged parents with it): rebuilt step by step
    subprocess.run([*dockyard, "rmi", "dyrep-gone"], check=True, capture_output=True)
    out, _, replayed = build(dockyard, "-t", "dyrep-gone", str(ctx))
    assert not replayed and "Running in" in out
    build(dockyard, "-q", "-t", "dyrep-gone", str(ctx))
    assert build(dockyard, "-q", "-t", "dyrep-gone", str(ctx))[2]
    # busybox now names another image: FROM resolves anew
    other = ctx.parent / "other"
    other.mkdir()
    (other / "Dockerfile").write_text("FROM busybox\nLABEL other=1\n")
    subprocess.run([*dockyard, "build", "-q", "-t", "dyrep-base", str(other)], check=True,
                   capture_output=True)  # fmt: skip
    old = subprocess.run(
        [*dockyard, "image", "inspect", "-f", "{{.Id}}", "busybox"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run([*dockyard, "tag", "dyrep-base", "busybox"], check=True)
    try:
        out, _, replayed = build(dockyard, "-q", str(ctx))
        assert not replayed
    finally:
        subprocess.run([*dockyard, "tag", old, "busybox"], check=True)
    subprocess.run([*dockyard, "rmi", "-f", "dyrep-gone", "dyrep-base"], capture_output=True)


def test_cold_build_imports_stay_lean(dockyard: list[str], ctx: Path) -> None:
    # once first: the root's first RUN also makes the default network (its own imports)
    subprocess.run([*dockyard, "build", "-q", str(ctx)], check=True, capture_output=True)
    cmd = [dockyard[0], "-X", "importtime", *dockyard[1:], "build", "--no-cache", "-q", str(ctx)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "dockyard.build.dispatch" in names  # built step by step
    found = sorted(n for n in names for p in COLD_NEVER if n == p or n.startswith(p + "."))
    assert not found, f"imported on the cold-build path: {found}"
