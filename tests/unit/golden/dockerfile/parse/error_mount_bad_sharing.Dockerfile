FROM alpine
RUN --mount=type=cache,target=/x,sharing=lockd true
