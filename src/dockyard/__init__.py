"""Dockyard: a Docker-compatible container engine with Compose."""

__version__ = "0.1.0"
