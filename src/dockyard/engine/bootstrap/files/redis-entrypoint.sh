#!/bin/sh
# docker-entrypoint.sh of Dockyard's bootstrapped redis image (Debian's redis-server),
# behaving like the Docker Hub redis image's:
#   * `docker run redis --appendonly yes` or `... redis /etc/redis.conf` run redis-server;
#   * redis-server started as root fixes the ownership of the working directory (/data)
#     and drops to user redis;
#   * protected mode is off unless a config file given as first argument sets it
#     (containers' ports are only reachable when published);
#   * a umask of 0022 becomes 0077.
set -e

# first argument is an option (-x, --x) or a config file: run redis-server with it
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	HOME="$(getent passwd redis | cut -d: -f6)"
	export HOME
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	protected=1
	config=
	if [ -f "${2:-}" ]; then
		config=$2
		if grep -q '^protected-mode' "$config"; then
			protected=
		fi
	fi
	if [ "$protected" = 1 ]; then
		shift # redis-server
		if [ -n "$config" ]; then
			shift
		fi
		# redis-server [config file] --protected-mode no [other options]: a later
		# "--protected-mode yes" among the options still wins
		set -- --protected-mode no "$@"
		if [ -n "$config" ]; then
			set -- "$config" "$@"
		fi
		set -- redis-server "$@"
	fi
fi

um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
