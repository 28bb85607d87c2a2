FROM python:3.11
ONBUILD ADD . /app/src
ONBUILD RUN /usr/local/bin/python-build --dir /app/src
onbuild   copy --chown=app requirements.txt /app/
ONBUILD RUN <<EOF
pip install -r /app/requirements.txt
EOF
ONBUILD RUNN typo-only-fails-in-the-child
