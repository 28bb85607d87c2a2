# comment
RUN echo before from
FROM alpine
