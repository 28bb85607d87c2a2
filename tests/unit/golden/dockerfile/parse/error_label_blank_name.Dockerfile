FROM alpine
LABEL ="x"
