FROM golang:1.22 AS build
RUN --mount=type=cache,target=/root/.cache/go-build,id=gobuild,sharing=locked \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=bind,from=deps,src=/out,dst=/deps,rw \
    go build ./...
RUN --mount=type=secret,id=aws,required=true,mode=0400,uid=1000,gid=1000 cat /run/secrets/aws
RUN --mount=type=secret,id=token,env=TOKEN true
RUN --mount=type=ssh,required git clone git@example.com:x/y.git
RUN --mount=type=tmpfs,target=/tmp,size=64m ls /tmp
RUN --mount=target=/ctx,readonly=false ls /ctx
RUN --mount=type=cache,dst=/var/cache/apt,ro true
RUN --network=none --security=insecure make test
RUN --network=host --mount="type=bind,target=/a b" true
