FROM debian
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -x; echo $0
SHELL ["powershell", "-command"]
