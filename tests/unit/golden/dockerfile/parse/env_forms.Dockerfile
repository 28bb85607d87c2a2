FROM alpine
ENV LEGACY value with spaces
ENV A=1 B="two words" C='single $quoted' D=escaped\ space
ENV PATH=/opt/bin:$PATH \
    EMPTY= \
    QUOTED_EMPTY=""
ENV "QUOTED_KEY"=x
ENV MULTI="line one \
line two"
