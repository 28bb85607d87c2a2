FROM alpine
RUN --mount=type=cache,tagret=/c true
