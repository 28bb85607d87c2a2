from alpine:3.20 as Base
run echo lower
Copy --from=base /etc/os-release /tmp/
eNv Key=value
cmd ["sh"]
