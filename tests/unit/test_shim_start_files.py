"""What a pending shim reads ahead of its container's start (shim_bootstrap.StartFiles)
is used only while the container's files are the ones it read."""

from __future__ import annotations

from pathlib import Path

from dockyard.runtime import state as st
from dockyard.runtime.bundle import write_config
from dockyard.runtime.shim_bootstrap import StartFiles
from dockyard.runtime.spec_builder import SpecOptions, build_spec


def test_files_read_ahead_tell_when_they_were_rewritten(tmp_path: Path) -> None:
    cdir = str(tmp_path)
    spec = build_spec(SpecOptions(args=("true",), hostname="one"))
    cfg = st.ShimConfig.build("x")
    write_config(cdir, spec)
    st.write_shim_config(cdir, cfg)
    files = StartFiles(cdir)
    assert (files.cfg, files.spec) == (cfg, spec)
    assert files.unchanged(cdir)
    assert not files.unchanged(str(tmp_path / "another"))
    write_config(cdir, spec.replace(hostname="two"))  # as run --network container: does
    assert not files.unchanged(cdir)
    files = StartFiles(cdir)
    assert files.spec is not None and files.spec.hostname == "two"
    st.write_shim_config(cdir, st.ShimConfig.build("x", tty=True))
    assert not files.unchanged(cdir)


def test_an_external_runtimes_start_reads_no_spec(tmp_path: Path) -> None:
    cdir = str(tmp_path)
    write_config(cdir, build_spec(SpecOptions(args=("true",))))
    st.write_shim_config(cdir, st.ShimConfig.build("x", runtime="crun"))
    files = StartFiles(cdir)
    assert (files.cfg.runtime, files.spec, files.program) == ("crun", None, None)
