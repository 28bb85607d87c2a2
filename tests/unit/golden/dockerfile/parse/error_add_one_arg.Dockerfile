FROM alpine
ADD \
   onlysource
