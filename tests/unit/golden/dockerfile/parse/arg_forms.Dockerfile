ARG GLOBAL
FROM alpine
ARG a b=2 c="3 4" d=
ARG user1=someuser
ARG buildno
RUN echo $a $b $c
