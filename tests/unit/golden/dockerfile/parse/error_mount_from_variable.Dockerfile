FROM alpine
RUN --mount=type=bind,from=$STAGE,target=/s true
