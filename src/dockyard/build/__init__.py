"""The builder: Dockerfile execution, build context and layer cache.

:mod:`.context` (what is sent, ``.dockerignore``) -> :mod:`.dispatch` (stages
and steps; :mod:`.metadata`, :mod:`.sources` + :mod:`.copier` for COPY/ADD,
RUN through the engine's :class:`~dockyard.build.events.Backend`) with
:mod:`.cache` asked before each step; progress leaves as :mod:`.events`.
"""
