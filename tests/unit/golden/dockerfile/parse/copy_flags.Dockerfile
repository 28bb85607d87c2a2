FROM alpine AS src
FROM alpine
COPY --from=src --chown=1000:1000 --chmod=755 --link /bin/busybox /usr/local/bin/
COPY --parents --exclude=*.md --exclude=tests/ ./src/ ./docs/ /app/
COPY ["file with spaces.txt", "/dest dir/"]
COPY --chown="app user:app group" a b
COPY --from=0 /etc/hostname /tmp/
COPY -- --weird-name /tmp/
COPY --link=false a* /dst/
