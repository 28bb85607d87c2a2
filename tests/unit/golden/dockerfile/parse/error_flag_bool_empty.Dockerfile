FROM alpine
COPY --link= /x /y
