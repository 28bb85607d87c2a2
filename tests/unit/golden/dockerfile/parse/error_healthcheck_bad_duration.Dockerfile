FROM alpine
HEALTHCHECK --timeout=5 CMD true
