FROM alpine
VOLUME ["/ok", " "]
