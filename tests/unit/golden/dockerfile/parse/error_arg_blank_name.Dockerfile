ARG =1
FROM alpine
