FROM alpine
RUN <<EOF
echo never ends
EO
