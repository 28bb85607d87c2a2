FROM alpine
CMD ["echo", 1]
