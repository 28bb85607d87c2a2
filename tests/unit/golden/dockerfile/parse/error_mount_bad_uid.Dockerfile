FROM alpine
RUN --mount=type=cache,target=/x,uid=root true
