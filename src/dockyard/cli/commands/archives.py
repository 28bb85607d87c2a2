"""save, load, import."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

from dockyard.cli.args import Parser, UsageError, require_args
from dockyard.cli.context import Context
from dockyard.errors import InvalidArgument


def save(ctx: Context, args: list[str], command: str = "save") -> int:
    p = Parser(command, "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument(
        "--format",
        default="docker",
        choices=["docker", "oci", "docker-archive", "oci-archive"],
        help="docker (docker save layout, also a valid OCI layout) or oci",
    )
    p.add_argument("images", nargs="*")
    ns = p.parse(args)
    require_args(ns.images, command, "[OPTIONS] IMAGE [IMAGE...]")
    fmt = ns.format.removesuffix("-archive")
    from dockyard.engine.image_archives import save as save_images

    if ns.output:
        tmp = f"{ns.output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as out:
                save_images(ctx.engine.images, ns.images, out, fmt=fmt)
            os.replace(tmp, ns.output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return 0
    if sys.stdout.isatty():
        raise UsageError(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
            command,
            exit_code=1,
        )
    save_images(ctx.engine.images, ns.images, sys.stdout.buffer, fmt=fmt)
    sys.stdout.buffer.flush()
    return 0


def load(ctx: Context, args: list[str], command: str = "load") -> int:
    p = Parser(command, "[OPTIONS]", "Load an image from a tar archive or STDIN")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    ns = p.parse(args)
    from dockyard.engine.image_archives import load as load_images

    src: BinaryIO
    if ns.input:
        try:
            src = open(ns.input, "rb")
        except OSError as e:
            raise InvalidArgument(f"open {ns.input}: {e.strerror}")
        source = ns.input
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty", command, exit_code=1)
        src = sys.stdin.buffer
        source = "stdin"
    with src:
        loaded = load_images(ctx.engine.images, src, source=source)
    for image in loaded:
        if image.names:
            for name in image.names:
                ctx.print(f"Loaded image: {name}")
        else:
            ctx.print(f"Loaded image ID: {image.id}")
    return 0


def import_(ctx: Context, args: list[str], command: str = "import") -> int:
    p = Parser(
        command,
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
    )
    p.add_argument("-c", "--change", action="append", help="Apply Dockerfile instruction")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("source", nargs="?")
    p.add_argument("reference", nargs="?")
    ns = p.parse(args)
    require_args(
        [ns.source] if ns.source else [], command, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]"
    )
    from dockyard.dockerfile.changes import apply_changes
    from dockyard.engine.image_archives import import_tarball
    from dockyard.oci.image import ContainerConfig

    changes = apply_changes(ContainerConfig(), ns.change or [])
    if ns.source == "-":
        src = sys.stdin.buffer
        source = "-"
        image_id = import_tarball(
            ctx.engine.images,
            src,
            source=source,
            reference=ns.reference,
            changes=changes,
            message=ns.message,
        )
    else:
        if "://" in ns.source:
            raise InvalidArgument(
                f"importing from a URL ({ns.source}) is not supported",
                hint="download the tarball first, then import the file",
            )
        try:
            fh = open(ns.source, "rb")
        except OSError as e:
            raise InvalidArgument(f"open {ns.source}: {e.strerror}")
        with fh:
            image_id = import_tarball(
                ctx.engine.images,
                fh,
                source=ns.source,
                reference=ns.reference,
                changes=changes,
                message=ns.message,
            )
    ctx.print(image_id)
    return 0
