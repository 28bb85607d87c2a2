FROM alpine
ONBUILD COPY <<EOF /onbuild.txt
from the parent
EOF
