FROM alpine
RUN <<FILE1 cat > file1 && <<FILE2 cat > file2
I am
first
FILE1
I am
second
FILE2
RUN cat <<A <<'B' 3<<"C"
a $HOME
A
b $HOME
B
c
C
