FROM debian:bookworm-slim
RUN apt-get update \
    # install the compiler
    && apt-get install -y --no-install-recommends \
        gcc \
# a comment at column 0
        libc6-dev \

        make \
    && rm -rf /var/lib/apt/lists/*
RUN echo done
