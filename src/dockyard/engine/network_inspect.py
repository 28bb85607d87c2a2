"""Inspect objects of the network service: ``docker network inspect``'s network and
``docker container inspect``'s ``NetworkSettings``, in Docker's shapes (API 1.43)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dockyard.engine.networks import (
    BRIDGE_NAME_OPT,
    MTU_OPT,
    NetworkService,
    endpoint_id,
    sandbox_id,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.container_config import ContainerCreate
    from dockyard.network.store import NetworkRecord


def inspect_network(svc: NetworkService, net: NetworkRecord) -> dict[str, Any]:
    """``docker network inspect``'s object."""
    config: list[dict[str, str]] = []
    if net.subnet:
        entry = {"Subnet": net.subnet}
        if net.ip_range:
            entry["IPRange"] = net.ip_range
        entry["Gateway"] = net.gateway
        config.append(entry)
    containers: dict[str, Any] = {}
    if net.driver == "bridge":
        for e in svc.store.endpoints(network_id=net.id):
            containers[e.container_id] = {
                "Name": svc.container_name(e.container_id) or "",
                "EndpointID": endpoint_id(net.id, e.container_id),
                "MacAddress": e.mac,
                "IPv4Address": f"{e.ip}/{net.prefixlen}",
                "IPv6Address": "",
            }
    options: dict[str, str] = dict(net.options)
    if net.is_default:
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            BRIDGE_NAME_OPT: net.bridge,
            MTU_OPT: str(svc.mtu(net)),
        }
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": net.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if net.is_default or net.driver != "bridge" else {},
            "Config": config,
        },
        "Internal": net.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": dict(net.labels),
    }


def network_settings(
    svc: NetworkService,
    cid: str,
    req: ContainerCreate,
    *,
    running: bool,
    exposed: Sequence[str],
) -> dict[str, Any]:
    """``NetworkSettings`` of ``docker container inspect``."""
    networks: dict[str, Any] = {}
    top = empty_endpoint_json()
    atts = svc.attachments(cid)
    for a in atts:
        net, ep = a.network, a.endpoint
        entry = empty_endpoint_json()
        name = svc.container_name(cid) or ""
        entry.update(
            {
                "IPAMConfig": {"IPv4Address": ep.ip} if (req.ip and a is atts[0]) else None,
                "Aliases": list(ep.aliases) or None,
                "MacAddress": ep.mac,
                "NetworkID": net.id,
                "EndpointID": endpoint_id(net.id, cid),
                "Gateway": net.gateway,
                "IPAddress": ep.ip,
                "IPPrefixLen": net.prefixlen,
                "DNSNames": None if net.is_default else [name, cid[:12], *ep.aliases],
            }
        )
        networks[net.name] = entry
        if net.is_default:
            for k in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
                top[k] = entry[k]
    if req.network in ("none", "host"):
        networks[req.network] = empty_endpoint_json()
    ports: dict[str, Any] = {}
    if running and atts:
        for key in exposed:
            ports.setdefault(key, None)
        for p in svc.store.published(cid):
            key = f"{p.container_port}/{p.proto}"
            if ports.get(key) is None:
                ports[key] = []
            ports[key].append({"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)})
    has_ns = bool(atts) and os.path.lexists(svc.netns_path(cid))
    return {
        "Bridge": "",
        "SandboxID": sandbox_id(cid) if has_ns else "",
        "SandboxKey": str(svc.netns_path(cid)) if has_ns else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": top["EndpointID"],
        "Gateway": top["Gateway"],
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": top["IPAddress"],
        "IPPrefixLen": top["IPPrefixLen"],
        "IPv6Gateway": "",
        "MacAddress": top["MacAddress"],
        "Networks": networks,
    }


def empty_endpoint_json() -> dict[str, Any]:
    """An endpoint's JSON in ``NetworkSettings.Networks`` with nothing filled in."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }
