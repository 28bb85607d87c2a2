# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
COPY testfile.txt c:\
RUN dir c:\ `
    && echo done
WORKDIR c:\app
ENV PATH="c:\tools;${PATH}" `
    HOME=c:\Users\app
