FROM alpine
RUN ["cat", "<<EOF"]
RUN echo "<<EOF" '<<EOF'
RUN echo a<<EOF
CMD cat <<EOF
RUN cat <<
