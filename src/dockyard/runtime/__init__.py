"""One container's runtime: spec, namespaces, mounts, cgroups, exec.

- ``spec_builder`` (pure): Docker's OCI spec from run options; ``users``:
  ``-u user[:group]``; ``caps``: capability names.
- ``executor``: the built-in runtime (``start_container``, ``exec_in_container``,
  ``kill``); ``mounts``, ``linux``, ``paths`` are its helpers.
- ``cgroups``: create, limit, measure, freeze and remove a container's cgroup.
- ``external``: the same bundle with crun/runc; ``bundle``: config.json on disk.

Nothing is imported here, so ``import dockyard.runtime.spec_builder`` stays cheap.
"""
