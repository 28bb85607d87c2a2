"""``dockyard build`` end to end on busybox, as root: image config and history as
Docker's classic builder makes them, the layer cache, multi-stage builds,
.dockerignore, ONBUILD, heredocs, failures and their messages.

busybox is bootstrapped once into a module-scoped root (short runroot); every
test builds in its own context directory and the module removes all at the end.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage.snapshots import SHARED_INIT
from tests.conftest import CLI
from tests.integration.test_run_flags import Site, make_cli, make_site
from tests.integration.test_runtime_helpers import mounts_under

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from make_site(tmp_path_factory)


@pytest.fixture
def dy(site: Site, capsys: pytest.CaptureFixture[str]) -> Iterator[CLI]:
    yield from make_cli(site, capsys)


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def steps(out: str) -> list[str]:
    return re.findall(r"^Step \d+/\d+ : .*$", out, re.M)


def nothing_left(dy: CLI, site: Site) -> None:
    assert dy.ok("ps", "-a", "-q") == ""
    overlay = site.root / "overlay"
    shared = ("l", SHARED_INIT)  # links, and the init layer every snapshot shares
    left = [n for n in os.listdir(overlay) if n not in shared] if overlay.is_dir() else []
    assert left == []
    assert not mounts_under(site.root)


MAIN = """\
FROM busybox
ARG V=1
ENV FOO=bar
LABEL a=b c="d e"
WORKDIR /app
COPY a.txt .
COPY d /dd/
EXPOSE 80 443/udp
VOLUME /data
USER nobody
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=30s --retries=3 CMD echo ok
RUN echo hi $V && touch /tmp/x
ENTRYPOINT ["sh"]
CMD echo cmd
"""


def test_config_history_and_output_as_docker(dy: CLI, site: Site, tmp_path: Path) -> None:
    ctx = write(tmp_path, {"Dockerfile": MAIN, "a.txt": "hello\n", "d/sub/f": "x\n"})
    r = dy("build", "-t", "dyb-main:1", str(ctx))
    assert r.code == 0, r.err
    assert steps(r.out)[0] == "Step 1/15 : FROM busybox"
    assert steps(r.out)[12] == "Step 13/15 : RUN echo hi $V && touch /tmp/x"
    run_step = r.out.split("Step 13/15")[1].split("Step 14/15")[0].splitlines()
    assert re.fullmatch(r" ---> Running in [0-9a-f]{12}", run_step[1])
    assert run_step[2] == "hi 1"
    assert run_step[3] == "Removing intermediate container " + run_step[1][-12:]
    assert re.fullmatch(r" ---> [0-9a-f]{12}", run_step[4])
    image_id = json.loads(dy.ok("image", "inspect", "dyb-main:1"))[0]["Id"]
    assert r.out.endswith(f"Successfully built {image_id[7:19]}\nSuccessfully tagged dyb-main:1\n")
    config = json.loads(dy.ok("image", "inspect", "-f", "{{json .Config}}", "dyb-main:1"))
    assert config["User"] == "nobody"
    assert config["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FOO=bar",
    ]
    assert config["Entrypoint"] == ["sh"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo cmd"]
    assert config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"443/udp": {}, "80/tcp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["Labels"] == {"a": "b", "c": "d e"}
    assert config["StopSignal"] == "SIGKILL"
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo ok"],
        "Interval": 30000000000,
        "Retries": 3,
    }
    history = dy.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", "dyb-main:1")
    lines = history.splitlines()
    assert lines[:8] == [
        '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo cmd"]',
        '/bin/sh -c #(nop)  ENTRYPOINT ["sh"]',
        "|1 V=1 /bin/sh -c echo hi $V && touch /tmp/x",
        '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "echo ok"] "30s" "0s" "0s" \'\\x03\'}',
        "/bin/sh -c #(nop)  STOPSIGNAL SIGKILL",
        "/bin/sh -c #(nop)  USER nobody",
        "/bin/sh -c #(nop)  VOLUME [/data]",
        "/bin/sh -c #(nop)  EXPOSE 443/udp 80",
    ]
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in /dd/ ", lines[8])
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \. ", lines[9])
    assert lines[10:14] == [
        "/bin/sh -c #(nop) WORKDIR /app",
        "/bin/sh -c #(nop)  LABEL a=b c=d e",
        "/bin/sh -c #(nop)  ENV FOO=bar",
        "/bin/sh -c #(nop)  ARG V=1",
    ]
    raw = json.loads(dy.ok("image", "inspect", "dyb-main:1"))[0]
    assert len(raw["RootFS"]["Layers"]) == 5  # busybox, WORKDIR, 2 COPY, RUN
    out = dy.ok(
        "run", "--rm", "dyb-main:1", "-c", "cat /app/a.txt /dd/sub/f; stat -c '%U %a' /app/a.txt"
    )
    assert out == "hello\nx\nroot 644\n"
    nothing_left(dy, site)


def test_cache_sequence_and_explain(dy: CLI, site: Site, tmp_path: Path) -> None:
    dockerfile = (
        "FROM busybox\nCOPY one.txt /one\nRUN echo built-one\nCOPY two.txt /two\nCMD cat /two\n"
    )
    ctx = write(tmp_path, {"Dockerfile": dockerfile, "one.txt": "1\n", "two.txt": "2\n"})
    first = dy.ok("build", "-q", str(ctx)).strip()
    r = dy.ok("build", str(ctx))
    assert r.count(" ---> Using cache") == 4
    assert "Running in" not in r and "\nbuilt-one\n" not in r
    assert f"Successfully built {first[7:19]}" in r
    os.utime(ctx / "one.txt", (1, 1))  # mtime alone: still cached
    assert dy.ok("build", "-q", str(ctx)).strip() == first
    (ctx / "two.txt").write_text("2b\n")
    r = dy.ok("build", "--explain", str(ctx))
    blocks = r.split("Step ")[1:]
    assert " ---> Using cache" in blocks[1] and " ---> Using cache" in blocks[2]
    assert "Using cache" not in blocks[3] and "Using cache" not in blocks[4]
    assert "[explain] cache miss: source files changed: two.txt" in blocks[3]
    assert "[explain] cache miss: the previous step was rebuilt" in blocks[4]
    assert "[explain] 2 of 4 steps from cache" in r
    assert "[explain] context: 3 files" in r
    (ctx / "one.txt").write_text("1b\n")
    r = dy.ok("build", str(ctx))
    assert r.count("Using cache") == 0 and "\nbuilt-one\n" in r
    r = dy.ok("build", "--no-cache", str(ctx))
    assert "Using cache" not in r
    assert dy.ok("run", "--rm", r.split("Successfully built ")[1].strip()) == "2b\n"
    nothing_left(dy, site)


def test_multistage_copy_from_target_and_skipped_stages(
    dy: CLI, site: Site, tmp_path: Path
) -> None:
    dockerfile = """\
ARG BASE=busybox
FROM $BASE AS builder
RUN mkdir -p /out && echo built > /out/artifact
FROM busybox AS unused
RUN echo should-not-run
FROM scratch
COPY --from=builder /out/ /res/
COPY --from=0 /out/artifact /single
"""
    ctx = write(tmp_path, {"Dockerfile": dockerfile})
    r = dy.ok("build", "-t", "dyb-multi", str(ctx))
    assert "should-not-run" not in r
    assert steps(r) == [
        "Step 1/5 : FROM $BASE AS builder",
        "Step 2/5 : RUN mkdir -p /out && echo built > /out/artifact",
        "Step 3/5 : FROM scratch",
        "Step 4/5 : COPY --from=builder /out/ /res/",
        "Step 5/5 : COPY --from=0 /out/artifact /single",
    ]
    check = tmp_path / "check"
    write(
        check,
        {
            "Dockerfile": (
                "FROM busybox\nCOPY --from=dyb-multi / /x/\nRUN cat /x/res/artifact /x/single\n"
            )
        },
    )
    out = dy.ok("build", str(check))
    assert "built\nbuilt\n" in out
    target = dy.ok("build", "--target", "builder", "-q", str(ctx)).strip()
    assert dy.ok("run", "--rm", target, "cat", "/out/artifact") == "built\n"
    r = dy("build", "--target", "nosuch", str(ctx))
    assert r.code == 1 and "failed to reach build target nosuch in Dockerfile" in r.err
    nothing_left(dy, site)


def test_dockerignore(dy: CLI, site: Site, tmp_path: Path) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n",
            ".dockerignore": "node_modules\n*.key\n!keep.key\n",
            "app.py": "print()\n",
            "secret.key": "s\n",
            "keep.key": "k\n",
            "node_modules/x/a.js": "big\n",
        },
    )
    r = dy.ok("build", str(ctx))
    listing = [line for line in r.splitlines() if line.startswith("/ctx")]
    assert listing == [
        "/ctx",
        "/ctx/.dockerignore",
        "/ctx/Dockerfile",
        "/ctx/app.py",
        "/ctx/keep.key",
    ]
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY secret.key /\n"})
    r = dy("build", str(ctx))
    assert r.code == 1
    assert (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat secret.key: file does not exist"
    ) in r.err
    # <Dockerfile>.dockerignore beside the Dockerfile wins
    write(
        ctx,
        {
            "other.Dockerfile": "FROM busybox\nCOPY secret.key /\n",
            "other.Dockerfile.dockerignore": "app.py\n",
        },
    )
    assert dy("build", "-f", str(ctx / "other.Dockerfile"), str(ctx)).code == 0
    nothing_left(dy, site)


def test_onbuild_triggers(dy: CLI, site: Site, tmp_path: Path) -> None:
    parent = write(
        tmp_path / "p",
        {"Dockerfile": "FROM busybox\nONBUILD RUN echo trig > /t\nONBUILD ENV X=1\n"},
    )
    dy.ok("build", "-t", "dyb-onbuild", str(parent))
    onbuild = json.loads(dy.ok("image", "inspect", "-f", "{{json .Config.OnBuild}}", "dyb-onbuild"))
    assert onbuild == ["RUN echo trig > /t", "ENV X=1"]
    child = write(tmp_path / "c", {"Dockerfile": "FROM dyb-onbuild\nRUN cat /t; echo X=$X\n"})
    r = dy.ok("build", "-t", "dyb-child", str(child))
    assert "Step 1/2 : FROM dyb-onbuild\n# Executing 2 build triggers\n ---> Running in" in r
    assert "trig\nX=1\n" in r.split("Step 2/2")[1]
    config = json.loads(dy.ok("image", "inspect", "-f", "{{json .Config}}", "dyb-child"))
    assert config.get("OnBuild") in (None, [])
    assert "X=1" in config["Env"]
    nothing_left(dy, site)


def test_heredocs(dy: CLI, site: Site, tmp_path: Path) -> None:
    dockerfile = """\
FROM busybox
ARG WHO=world
COPY <<EOF /greeting
hello $WHO
EOF
RUN <<SCRIPT
set -e
echo line1 > /script-out
echo line2 >> /script-out
SCRIPT
RUN cat <<EOF > /inline
inline heredoc
EOF
CMD cat /greeting /script-out /inline
"""
    ctx = write(tmp_path, {"Dockerfile": dockerfile})
    image = dy.ok("build", "-q", str(ctx)).strip()
    assert dy.ok("run", "--rm", image) == "hello world\nline1\nline2\ninline heredoc\n"
    nothing_left(dy, site)


def test_failing_run_message_and_exit_code(dy: CLI, site: Site, tmp_path: Path) -> None:
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo before; exit 3\nRUN echo never\n"})
    r = dy("build", str(ctx))
    assert r.code == 3  # as docker build: the command's exit code
    assert "before" in r.out and "never" not in r.out
    assert (
        r.err.strip().splitlines()[-1]
        == "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"
    )
    nothing_left(dy, site)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM busybox\nRUNN echo\n",
            "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)",
        ),
        ("ENV A=b\nFROM busybox\n", "Dockerfile:1: no build stage in current context"),
        ("FROM busybox\n\nCOPY onlyone\n", "Dockerfile:3: COPY requires at least two arguments"),
        ("FROM busybox\nRUN <<EOF\necho\n", "unterminated heredoc"),
        ("FROM busybox AS 1x\n", "Dockerfile:1: invalid name for build stage"),
    ],
)
def test_bad_dockerfiles(dy: CLI, tmp_path: Path, dockerfile: str, message: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": dockerfile})
    r = dy("build", str(ctx))
    assert r.code == 1
    assert message in r.err


def test_args_labels_tags_iidfile_and_stdin(
    dy: CLI, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = write(
        tmp_path / "ctx",
        {"Dockerfile": "FROM busybox\nARG NAME=def\nRUN echo name=$NAME\n", "f": "x"},
    )
    iid = tmp_path / "iid"
    r = dy(
        "build", "--build-arg", "NAME=given", "--build-arg", "UNUSED=1", "--label", "team=dy",
        "-t", "dyb-a:1", "-t", "dyb-b", "--iidfile", str(iid), str(ctx),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert "name=given" in r.out
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in r.out
    assert r.out.endswith("Successfully tagged dyb-a:1\nSuccessfully tagged dyb-b:latest\n")
    image_id = iid.read_text()
    assert json.loads(dy.ok("image", "inspect", "dyb-b"))[0]["Id"] == image_id
    labels = json.loads(dy.ok("image", "inspect", "-f", "{{json .Config.Labels}}", image_id))
    assert labels == {"team": "dy"}
    # a tar context on stdin builds the same image from the cache
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(ctx, arcname=".")
    stdin = io.TextIOWrapper(io.BytesIO(data.getvalue()))
    monkeypatch.setattr(sys, "stdin", stdin)
    out = dy.ok("build", "-q", "--build-arg", "NAME=given", "--label", "team=dy", "-")
    assert out.strip() == image_id
    nothing_left(dy, site)


@pytest.mark.slow
def test_tutorial_python_pip_install(dy: CLI, site: Site, tmp_path: Path) -> None:
    """The tutorial's Dockerfile on python:3.11, reaching PyPI from a RUN step."""
    assert dy("bootstrap", "-q", "python:3.11").code == 0
    ctx = write(
        tmp_path,
        {
            "Dockerfile": (
                "FROM python:3.11\nWORKDIR /usr/src/app\nADD requirements.txt .\n"
                "RUN pip install --no-cache-dir -r requirements.txt\nCOPY app.py .\n"
                'CMD ["python", "app.py"]\n'
            ),
            "requirements.txt": "six==1.16.0\n",
            "app.py": "import six\nprint('six', six.__version__)\n",
        },
    )
    r = dy("build", "--with-host-ca", "-t", "dyb-tutorial", str(ctx))
    assert r.code == 0, r.out + r.err
    assert "Successfully installed six-1.16.0" in r.out
    assert dy.ok("run", "--rm", "dyb-tutorial") == "six 1.16.0\n"
    again = dy.ok("build", "--with-host-ca", "-t", "dyb-tutorial", str(ctx))
    assert again.count("Using cache") == 5
    nothing_left(dy, site)


MOUNTS = """\
FROM busybox AS tools
RUN mkdir /tools && echo tool > /tools/t
FROM busybox
WORKDIR /w
RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /cache/log
RUN --mount=type=bind,source=src,target=src cat src/a.txt
RUN --mount=from=tools,source=/tools,target=/t cat /t/t
RUN --mount=type=bind,rw,target=/ctx echo junk > /ctx/new && ls /ctx
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep -c ' /scratch tmpfs' /proc/mounts
RUN --mount=type=secret,id=tok --mount=type=secret,id=file1,target=/s/f,mode=0444 \\
    echo "tok=$(cat /run/secrets/tok) f=$(cat /s/f)" && stat -c '%a' /run/secrets/tok
RUN --mount=type=secret,id=tok,env=TOK,required echo "env=$TOK" && ls /run/secrets 2>&1; true
RUN --mount=type=secret,id=absent echo optional-absent-ok
RUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '
RUN ls -d /cache /w/src /t /ctx /scratch /run/secrets /s 2>&1; true
"""


def _grep_root(root: Path, needle: bytes) -> list[str]:
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_run_mounts_cache_bind_tmpfs_secret_network(
    dy: CLI, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = write(tmp_path / "ctx", {"Dockerfile": MOUNTS, "src/a.txt": "from-context\n"})
    secret_file = write(tmp_path, {"secret.txt": "file-s3cret"}) / "secret.txt"
    monkeypatch.setenv("DYB_TOKEN", "env-s3cret")
    flags = ["--secret", "id=tok,env=DYB_TOKEN", "--secret", f"id=file1,src={secret_file}"]
    r = dy("build", *flags, "-t", "dyb-mounts", str(ctx))
    assert r.code == 0, r.out + r.err
    out = r.out
    assert "\nrun\n" in out  # cache mount, first use
    assert "\nfrom-context\n" in out and "\ntool\n" in out
    assert "\nDockerfile\nnew\nsrc\n" in out  # rw bind of the context sees the write
    assert "tok=env-s3cret f=file-s3cret\n400\n" in out
    assert "env=env-s3cret\nls: /run/secrets: No such file or directory\n" in out
    assert "optional-absent-ok" in out
    assert "\nlo\n" in out.split("RUN --network=none")[1].split("Step ")[0] + "\n"
    assert out.split("RUN --network=none")[1].split("Step ")[0].count("eth0") == 0
    last = out.split("RUN ls -d")[1]
    for gone in ("/cache", "/w/src", "/t", "/ctx", "/scratch", "/run/secrets", "/s"):
        assert f"ls: {gone}: No such file or directory" in last
    assert not (ctx / "new").exists()  # rw bind writes are dropped
    cache_dir = site.root / "build-cache-mounts" / "%2Fcache"
    assert (cache_dir / "log").read_text() == "run\n"
    # secrets are never in the store (layers, configs, history, cache records)
    assert _grep_root(site.root, b"s3cret") == []
    # all cached, even with another secret value (BuildKit keys on the id, not content)
    monkeypatch.setenv("DYB_TOKEN", "other-s3cret")
    again = dy.ok("build", *flags, str(ctx))
    assert again.count(" ---> Using cache") == 12, again
    # a change in a bind's context source reruns from that step on; the cache persists
    (ctx / "src/a.txt").write_text("changed\n")
    r = dy.ok("build", "--explain", *flags, str(ctx))
    blocks = r.split("Step ")
    assert "Using cache" in blocks[5] and "Using cache" not in blocks[6]
    assert "source files changed: mount:src/a.txt" in blocks[6]
    assert "\nchanged\n" in blocks[6]
    r = dy.ok("build", "--no-cache", *flags, str(ctx))
    assert "\nrun\nrun\n" in r
    nothing_left(dy, site)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "RUN --mount=type=secret,id=missing,required echo",
            "Dockerfile:2: secret missing: not found",
        ),
        (
            "RUN --mount=type=bind,source=nosuch,target=/x true",
            'Dockerfile:2: RUN --mount: source "nosuch" not found in build context',
        ),
        ("RUN --mount=type=cache echo", "Dockerfile:2: mount target is required"),
        ("RUN --mount=type=ssh,target=/x true", "Dockerfile:2: RUN --mount=type=ssh is not"),
        ("RUN --mount=type=cach,target=/x true", 'unsupported mount type "cach"'),
    ],
)
def test_run_mount_errors(dy: CLI, site: Site, tmp_path: Path, line: str, message: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\n{line}\n"})
    r = dy("build", str(ctx))
    assert r.code == 1, r.out
    assert message in r.err
    nothing_left(dy, site)


class _Files:
    """What the test's HTTP server on 127.0.0.1 serves: path -> (body, headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, dict[str, str]]] = {}


@pytest.fixture
def http_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, _Files]]:
    import http.server
    import threading

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    files = _Files()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = files.routes.get(self.path)
            if found is None:
                self.send_error(404, "Not Found")
                return
            body, headers = found
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_url(dy: CLI, site: Site, tmp_path: Path, http_files: tuple[str, _Files]) -> None:
    import gzip
    import hashlib

    base, files = http_files
    hello = b"hello remote\n"
    modified = {"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}
    files.routes["/files/hello.txt"] = (hello, modified)
    files.routes["/dir/"] = (b"cd\n", {"Content-Disposition": 'attachment; filename="cd.bin"'})
    files.routes["/noname/"] = (b"x", {})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("inside")
        tar.addfile(info, io.BytesIO(b""))
    files.routes["/a.tar.gz"] = (gzip.compress(archive.getvalue()), {})
    good = "sha256:" + hashlib.sha256(hello).hexdigest()
    dockerfile = f"""\
FROM busybox
ADD {base}/files/hello.txt /downloads/
ADD --checksum={good} {base}/files/hello.txt /renamed.txt
ADD {base}/dir/ /cd/
ADD {base}/a.tar.gz /arch/
RUN stat -c '%a %u %Y %n' /downloads/hello.txt /renamed.txt /cd/cd.bin /arch/a.tar.gz \\
    && cat /renamed.txt
"""
    ctx = write(tmp_path, {"Dockerfile": dockerfile})
    r = dy("build", str(ctx))
    assert r.code == 0, r.out + r.err
    assert (
        "600 0 1445412480 /downloads/hello.txt\n600 0 1445412480 /renamed.txt\n"
        in r.out  # Docker's mode and the Last-Modified time
    )
    assert re.search(
        r"^600 0 \d+ /cd/cd\.bin\n600 0 \d+ /arch/a\.tar\.gz\nhello remote\n", r.out, re.M
    )
    history = dy.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", r.out.split()[-1])
    assert re.search(r"#\(nop\) ADD file:[0-9a-f]{64} in /renamed.txt ", history)
    again = dy.ok("build", str(ctx))
    assert again.count(" ---> Using cache") == 5
    files.routes["/files/hello.txt"] = (b"changed\n", modified)  # same URL, new content
    r = dy("build", "--explain", str(ctx))
    assert r.code == 1
    blocks = r.out.split("Step ")
    assert "cache miss: source files changed: " + base + "/files/hello.txt" in blocks[2]
    actual = "sha256:" + hashlib.sha256(b"changed\n").hexdigest()
    assert f"Dockerfile:3: digest mismatch {actual}: {good}" in r.err
    assert f"--checksum expects {good}" in r.err
    nothing_left(dy, site)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ADD {base}/missing /x", "Dockerfile:2: failed to GET {base}/missing with status 404"),
        ("ADD {base}/noname/ /d/", "Dockerfile:2: ADD failed: cannot determine filename"),
        ("ADD --checksum=md5:00 {base}/f /x", "Dockerfile:2: invalid checksum 'md5:00'"),
        ("ADD --checksum=sha256:00 ctx.txt /x", "checksum can't be specified for non-HTTP(S)"),
        ("COPY {base}/f /x", "Dockerfile:2: COPY failed: source can't be a URL for COPY"),
        ("ADD git@github.com:moby/moby.git /src", "git sources are not supported"),
        ("ADD {base}/repo.git /src", "hint: clone in a RUN step"),
    ],
)
def test_add_url_errors(
    dy: CLI, site: Site, tmp_path: Path, http_files: tuple[str, _Files], line: str, message: str
) -> None:
    base, files = http_files
    files.routes["/noname/"] = (b"x", {})
    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\n{line.format(base=base)}\n"})
    r = dy("build", str(ctx))
    assert r.code == 1, r.out
    assert message.format(base=base) in r.err
    nothing_left(dy, site)


def test_progress_plain(dy: CLI, site: Site, tmp_path: Path) -> None:
    ctx = write(
        tmp_path,
        {"Dockerfile": "FROM busybox\nENV A=1\nCOPY a.txt /a\nRUN cat /a\n", "a.txt": "hello\n"},
    )
    r = dy("build", "--progress=plain", "-t", "dyb-plain:1", str(ctx))
    assert r.code == 0, r.err
    assert r.out == ""  # BuildKit's progress goes to stderr
    blocks = r.err.split("\n\n")
    assert blocks[0].splitlines() == [
        "#1 [internal] load build definition from Dockerfile",
        "#1 transferring dockerfile: 46B done",
        "#1 DONE 0.0s",
    ]
    assert (
        blocks[1].splitlines()[0]
        == "#2 [internal] load metadata for docker.io/library/busybox:latest"
    )
    assert blocks[3].splitlines() == ["#4 [1/3] FROM docker.io/library/busybox:latest", "#4 CACHED"]
    assert blocks[4].startswith("#5 [internal] load build context\n#5 transferring context: ")
    assert re.fullmatch(r"#6 \[2/3\] COPY a.txt /a\n#6 DONE \d+\.\ds", blocks[5])
    assert re.fullmatch(r"#7 \[3/3\] RUN cat /a\n#7 \d+\.\d{3} hello\n#7 DONE \d+\.\ds", blocks[6])
    image_id = json.loads(dy.ok("image", "inspect", "dyb-plain:1"))[0]["Id"]
    assert re.fullmatch(
        rf"#8 exporting to image\n#8 exporting layers done\n#8 writing image {image_id} done\n"
        r"#8 naming to docker.io/library/dyb-plain:1 done\n#8 DONE \d+\.\ds\n",
        blocks[7],
    )
    again = dy("build", "--progress=plain", str(ctx))
    assert "#6 [2/3] COPY a.txt /a\n#6 CACHED\n" in again.err
    assert "#7 [3/3] RUN cat /a\n#7 CACHED\n" in again.err
    assert "Step 1/4" in dy.ok("build", str(ctx))  # no --progress: the classic output
    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo before; exit 3\n"})
    r = dy("build", "--progress=plain", str(ctx))
    assert r.code == 1  # BuildKit's, not the command's
    assert r.err.endswith(
        "Dockerfile:2\n--------------------\n   1 |     FROM busybox\n"
        "   2 | >>> RUN echo before; exit 3\n--------------------\n"
        'ERROR: failed to solve: process "/bin/sh -c echo before; exit 3" did not complete '
        "successfully: exit code: 3\n"
    )
    nothing_left(dy, site)


def test_platform_args_from_platform_and_copy_link(dy: CLI, site: Site, tmp_path: Path) -> None:
    from dockyard.build.platform import host_platform

    os_name, arch, _ = host_platform()
    dockerfile = f"""\
ARG TARGETARCH
FROM --platform=$BUILDPLATFORM busybox:${{TARGETARCH:+latest}} AS b
ARG TARGETPLATFORM
ARG BUILDARCH
ARG TARGETOS
RUN echo "t=$TARGETPLATFORM b=$BUILDARCH os=$TARGETOS" > /p && cat /p
FROM --platform={os_name}/{arch} busybox
COPY --link --from=b /p /p
COPY --link a.txt /a
RUN echo "undeclared=$TARGETARCH"; cat /p /a
"""
    ctx = write(tmp_path, {"Dockerfile": dockerfile, "a.txt": "a\n"})
    r = dy("build", "--platform", f"{os_name}/{arch}", str(ctx))
    assert r.code == 0, r.out + r.err
    assert f"\nt={os_name}/{arch} b={arch} os={os_name}\n" in r.out
    assert f"\nundeclared=\nt={os_name}/{arch} b={arch} os={os_name}\na\n" in r.out
    other = "linux/s390x" if arch != "s390x" else "linux/arm64"
    write(ctx, {"Dockerfile": f"FROM busybox\nRUN true\nFROM --platform={other} busybox\n"})
    r = dy("build", str(ctx))
    assert r.code == 1
    assert (
        f"Dockerfile:3: platform '{other}' is not this machine's ({os_name}/{arch}): "
        "dockyard builds for the host's platform only"
    ) in r.err
    r = dy("build", "--platform", other, str(ctx))
    assert r.code != 0 and f"platform '{other}' is not this machine's" in r.err
    nothing_left(dy, site)


def test_stdin_gzip_context_and_dockerfile(
    dy: CLI, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    ctx = write(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY f /f\nRUN cat /f\n", "f": "gz\n"}
    )
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(ctx, arcname=".")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data.getvalue()))))
    r = dy("build", "-")
    assert r.code == 0, r.err
    assert "\ngz\n" in r.out
    # -f -: the Dockerfile on stdin, the context a directory
    dockerfile = b"FROM busybox\nCOPY f /g\nRUN cat /g; echo from-stdin\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(dockerfile)))
    r = dy("build", "-f", "-", str(ctx))
    assert r.code == 0, r.err
    assert "\ngz\nfrom-stdin\n" in r.out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    r = dy("build", "-f", "-", "-")
    assert r.code == 1
    assert "can't use stdin for both build context and dockerfile" in r.err
    nothing_left(dy, site)
