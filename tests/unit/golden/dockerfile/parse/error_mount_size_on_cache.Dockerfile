FROM alpine
RUN --mount=type=cache,target=/x,size=1g true
