FROM alpine
RUN --privileged true
