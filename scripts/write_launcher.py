"""Write a quick-starting ``bin/dockyard`` for this virtualenv (``make venv`` runs it
after ``pip install -e``, replacing pip's console script).

pip's script runs ``python`` with ``site``: it reads every ``.pth`` file in
site-packages, imports setuptools' ``_distutils_hack`` and Debian's
``sitecustomize``/``apport_python_hook`` -- ~4 ms before the first line of Dockyard,
a sixth of a ``ps``. This one runs ``python -I -S`` (isolated: no user site, no
PYTHON* variables, no script directory on ``sys.path``) and puts site-packages and
the source tree on ``sys.path`` itself, and loads Dockyard's modules from the bundle
(``dockyard._util.bundle``) that it writes too.

usage: python scripts/write_launcher.py BIN/dockyard
"""

from __future__ import annotations

import os
import sys
import sysconfig


def main() -> int:
    target = sys.argv[1]
    import dockyard

    src = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    purelib = sysconfig.get_paths()["purelib"]
    paths = [purelib] + ([src] if src != purelib else [])
    text = (
        f"#!{sys.executable} -IS\n"
        "# Written by scripts/write_launcher.py: no site (-S), isolated (-I); the paths\n"
        "# that site and the editable install's .pth file would add, added here.\n"
        "import sys\n"
        f"sys.path += {paths!r}\n"
        "from dockyard._util.bundle import install\n"
        "install()  # Dockyard's modules from one file (a source edited since: its own)\n"
        "from dockyard.cli.main import main\n"
        "sys.exit(main())\n"
    )
    tmp = f"{target}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    from dockyard._util import bundle

    package_dir = os.path.dirname(os.path.abspath(dockyard.__file__))
    bundle.write(package_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
