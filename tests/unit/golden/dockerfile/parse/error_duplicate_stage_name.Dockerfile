FROM alpine AS build
FROM debian AS BUILD
