# syntax=docker/dockerfile:1.7
#  CHECK = skip=JSONArgsRecommended;error=true
# escape=\
FROM alpine:3.20
RUN echo hello \
    world
