FROM alpine
RUN echo a \
    b
COPY \
  one-arg
