FROM alpine
MAINTAINER Jane Doe <jane@example.com>
EXPOSE 80/tcp 443 8000-8010/udp $PORT
VOLUME ["/data", "/var/log"]
VOLUME /a /b
VOLUME /single
USER 1000:1000
USER app user
STOPSIGNAL SIGQUIT
WORKDIR relative/dir
WORKDIR "/quoted dir"
