"""``run``/``create`` flags, Docker's names and meanings, into a ContainerCreate."""

from __future__ import annotations

import os

from dockyard.cli.args import REMAINDER, Parser
from dockyard.engine.container_config import ContainerCreate
from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

USAGE = "[OPTIONS] IMAGE [COMMAND] [ARG...]"


def add_create_flags(p: Parser) -> None:
    a = p.add_argument
    a("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping")
    a("-a", "--attach", action="append", default=[], help="Attach to STDIN, STDOUT or STDERR")
    a("--cap-add", action="append", default=[], help="Add Linux capabilities")
    a("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    a("--cpu-shares", "-c", type=int, help="CPU shares (relative weight)")
    a("--cpus", help="Number of CPUs")
    a("--dns", action="append", default=[], help="Set custom DNS servers")
    a("--dns-option", action="append", default=[], help="Set DNS options")
    a("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    a("--domainname", default="", help="Container NIS domain name")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("-e", "--env", action="append", default=[], help="Set environment variables")
    a("--env-file", action="append", default=[], help="Read in a file of environment variables")
    a("--expose", action="append", default=[], help="Expose a port or a range of ports")
    a("-h", "--hostname", default="", help="Container host name")
    a("--help", action="help", help="Print usage")
    a("--init", action="store_true", help="Run an init inside the container")
    a("--with-host-ca", action="store_true", help="Mount the host's CA bundle read-only")
    a("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    a("--ip", default="", help="IPv4 address")
    a("-l", "--label", action="append", default=[], help="Set meta data on a container")
    a("--label-file", action="append", default=[], help="Read in a line delimited file of labels")
    a("--log-driver", default="json-file", help="Logging driver for the container")
    a("--log-opt", action="append", default=[], help="Log driver options")
    a("-m", "--memory", help="Memory limit")
    a("--memory-swap", help="Swap limit equal to memory plus swap: -1 for unlimited")
    a("--mount", action="append", default=[], help="Attach a filesystem mount")
    a("--name", help="Assign a name to the container")
    a("--network", "--net", default="default", help="Connect a container to a network")
    a("--network-alias", action="append", default=[], help="Add network-scoped alias")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("--oom-score-adj", type=int, help="Tune host's OOM preferences (-1000 to 1000)")
    a("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited)")
    a("--platform", help="Set platform if server is multi-platform capable")
    a("--privileged", action="store_true", help="Give extended privileges to this container")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port(s)")
    a("-P", "--publish-all", action="store_true", help="Publish all exposed ports")
    a("--pull", default="missing", choices=["always", "missing", "never"], help="Pull image")
    a("--read-only", action="store_true", help="Mount the container's root filesystem read-only")
    a("--restart", default="no", help="Restart policy to apply when a container exits")
    a("--rm", action="store_true", help="Automatically remove the container when it exits")
    a("--runtime", default="dockyard", help="Runtime to use for this container")
    a("--security-opt", action="append", default=[], help="Security Options")
    a("--shm-size", help="Size of /dev/shm")
    a("--stop-signal", default="", help="Signal to stop the container")
    a("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
    a("--sysctl", action="append", default=[], help="Sysctl options")
    a("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    a("-w", "--workdir", default="", help="Working directory inside the container")
    a("image", nargs="?", help="image")
    a("command", nargs=REMAINDER, help="command")


def create_request(ns: argparse.Namespace) -> ContainerCreate:
    # each parser is imported only when its flag is given: a plain run parses none
    from dockyard.specs.ports import PortBinding, parse_expose
    from dockyard.specs.restart import RestartPolicy
    from dockyard.specs.volumes import VolumeSpec

    env: list[str] = []
    if ns.env_file or ns.env:
        from dockyard.specs.env import env_from_flags

        env = env_from_flags(ns.env_file, ns.env)
    mounts = [VolumeSpec.parse(v, base_dir=os.getcwd()).to_mount() for v in ns.volume]
    if ns.mount or ns.tmpfs:
        from dockyard.specs.mounts import MountSpec, TmpfsSpec

        mounts += [
            MountSpec.parse(m, base_dir=os.getcwd(), flag="--mount").to_mount() for m in ns.mount
        ]
        mounts += [TmpfsSpec.parse(t).to_mount() for t in ns.tmpfs]
    ports: list[PortBinding] = []
    for p in ns.publish:
        ports += PortBinding.parse(p)
    exposed = [e.render() for item in ns.expose for e in parse_expose(item)]
    log_driver: str = ns.log_driver
    log_options: tuple[tuple[str, str], ...] = ()
    if ns.log_opt or log_driver != "json-file":
        from dockyard.specs.logopts import parse_log_opts

        log = parse_log_opts(ns.log_opt, ns.log_driver)
        log_driver, log_options = log.driver, log.options
    labels: dict[str, str] = {}
    if ns.label or ns.label_file:
        from dockyard.specs.labels import parse_labels

        labels = parse_labels(ns.label, ns.label_file, flag="-l, --label")
    extra_hosts: tuple[tuple[str, str], ...] = ()
    if ns.add_host:
        from dockyard.specs.hosts import ExtraHost

        extra_hosts = tuple((h.name, h.ip) for h in map(ExtraHost.parse, ns.add_host))
    sysctls: tuple[tuple[str, str], ...] = ()
    if ns.sysctl:
        from dockyard.specs.sysctls import parse_sysctl

        sysctls = tuple(parse_sysctl(s, flag="--sysctl") for s in ns.sysctl)
    if ns.memory or ns.memory_swap or ns.cpus or ns.shm_size:
        from dockyard.specs.units import parse_cpus, parse_size
    no_new_privs = False
    seccomp = ""
    for opt in ns.security_opt:
        if opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            no_new_privs = True
        elif opt.startswith(("seccomp=", "seccomp:")):
            seccomp = _seccomp_option(opt[len("seccomp=") :])
        elif opt.startswith(("apparmor", "label")):
            continue  # accepted; no apparmor/SELinux in this runtime
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
    restart = RestartPolicy.parse(ns.restart)
    if ns.rm and restart.name != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    memory = parse_size(ns.memory, flag="-m, --memory") if ns.memory else None
    entrypoint = None
    if ns.entrypoint is not None:
        entrypoint = (ns.entrypoint,) if ns.entrypoint else ()
    return ContainerCreate(
        image=ns.image,
        name=ns.name,
        cmd=tuple(ns.command) if ns.command else None,
        entrypoint=entrypoint,
        env=tuple(env),
        working_dir=ns.workdir,
        user=ns.user,
        hostname=ns.hostname,
        domainname=ns.domainname,
        tty=ns.tty,
        open_stdin=ns.interactive,
        stdin_once=ns.interactive,
        labels=tuple(sorted(labels.items())),
        mounts=tuple(mounts),
        restart=restart,
        auto_remove=ns.rm,
        init=ns.init,
        host_ca=ns.with_host_ca,
        memory=memory,
        memory_swap=(-1 if ns.memory_swap == "-1" else parse_size(ns.memory_swap))
        if ns.memory_swap
        else None,
        nano_cpus=parse_cpus(ns.cpus, flag="--cpus") if ns.cpus else None,
        cpu_shares=ns.cpu_shares,
        pids_limit=ns.pids_limit,
        read_only=ns.read_only,
        cap_add=tuple(ns.cap_add),
        cap_drop=tuple(ns.cap_drop),
        privileged=ns.privileged,
        no_new_privileges=no_new_privs,
        stop_signal=ns.stop_signal,
        stop_timeout=ns.stop_timeout,
        log_driver=log_driver,
        log_options=log_options,
        network=ns.network,
        network_aliases=tuple(ns.network_alias),
        ip=ns.ip,
        ports=tuple(ports),
        publish_all=ns.publish_all,
        exposed=tuple(exposed),
        dns=tuple(ns.dns),
        dns_search=tuple(ns.dns_search),
        dns_options=tuple(ns.dns_option),
        extra_hosts=extra_hosts,
        sysctls=sysctls,
        shm_size=parse_size(ns.shm_size, flag="--shm-size") if ns.shm_size else None,
        oom_score_adj=ns.oom_score_adj,
        runtime=ns.runtime,
        seccomp_profile=seccomp,
    )


def _seccomp_option(value: str) -> str:
    """``seccomp=unconfined|builtin|FILE``: a file's profile is sent as its JSON text,
    as Docker's CLI does."""
    if value in ("unconfined", "builtin"):
        return value
    try:
        with open(value, encoding="utf-8") as f:
            import json

            return json.dumps(json.load(f), separators=(",", ":"))
    except (OSError, ValueError) as e:
        why = f"open {value}: {(e.strerror or str(e)).lower()}" if isinstance(e, OSError) else e
        raise InvalidArgument(f"opening seccomp profile ({value}) failed: {why}") from None


def new_parser(command: str) -> Parser:
    p = Parser(command, USAGE, add_help=False)
    add_create_flags(p)
    return p
