FROM alpine
RUN --mount=type=cache,target=/x,nocache true
