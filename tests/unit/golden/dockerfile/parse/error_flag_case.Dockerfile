FROM alpine AS base
COPY --From=base /a /b
