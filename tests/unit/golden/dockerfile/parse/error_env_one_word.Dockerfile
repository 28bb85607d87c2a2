FROM alpine
ENV lonely
