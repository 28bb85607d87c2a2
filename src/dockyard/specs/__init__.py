"""The short value syntaxes users type in docker flags and compose files, as frozen values."""
