FROM alpine
COPY --link=yes /x /y
