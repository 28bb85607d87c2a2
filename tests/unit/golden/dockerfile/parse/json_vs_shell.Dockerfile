FROM busybox
CMD ["echo", "exec form"]
CMD [ "spaced" , "json" ]
CMD [echo, not-json]
CMD ["unterminated
CMD ["trailing"] junk
ENTRYPOINT echo shell form
RUN ["sh", "-c", "echo $HOME"]
RUN echo "quoted  spaces"   
CMD []
ENTRYPOINT []
