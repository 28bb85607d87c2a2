FROM alpine
RUN --mount=target=/x,sharing=locked true
