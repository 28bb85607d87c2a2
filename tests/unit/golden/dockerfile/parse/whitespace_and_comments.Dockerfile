   # indented comment
	FROM alpine

    RUN echo indented
RUN echo hi # this is not a comment
RUN echo foo \\
RUN echo continued \
# comment inside
    last
