FROM alpine
ARG CACHE_ID=default
RUN --mount=type=cache,id=$CACHE_ID,target=/cache ls /cache
RUN --mount=type=tmpfs,target=${TMP:-/tmp} true
