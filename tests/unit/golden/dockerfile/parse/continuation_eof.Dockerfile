FROM alpine
RUN echo continued at EOF \