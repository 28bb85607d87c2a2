FROM alpine
FOOBAR x
