FROM nginx
HEALTHCHECK NONE
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --start-interval=2s --retries=3 \
  CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["/bin/check", "--quiet"]
HEALTHCHECK --interval=0s --retries=0 cmd true
healthcheck none
