FROM alpine
COPY <<EOF /etc/motd
Welcome to $HOSTNAME
EOF
COPY <<"EOF" /usr/local/bin/run.sh
#!/bin/sh
echo "$@"
EOF
COPY --chmod=755 <<-EOT /script.sh
	#!/bin/sh
		echo indented
	EOT
COPY <<one <<two /dir/
1
one
2
two
ADD <<EOF local.txt /both/
heredoc and a file
EOF
