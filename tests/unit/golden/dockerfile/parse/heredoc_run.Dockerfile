# syntax=docker/dockerfile:1
FROM debian
RUN <<EOF
apt-get update
apt-get install -y vim
EOF
RUN <<-EOT
	set -e
		echo "tabs are stripped"
	EOT
RUN python3 <<EOF
print("hello from $NAME")
EOF
RUN <<EOF bash
echo shebang-less
EOF
RUN echo after heredocs
