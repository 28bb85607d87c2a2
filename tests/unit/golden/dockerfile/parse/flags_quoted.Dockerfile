FROM alpine AS a
COPY --chown='user:group' --from="a" x y
COPY --chmod=\7\5\5 z /w
RUN --network="none" true
