from dockyard._util.bundle import install

install()  # as the launcher does (scripts/write_launcher.py)

from dockyard.cli.main import main  # noqa: E402 (after the bundle's finder is in place)

raise SystemExit(main())
