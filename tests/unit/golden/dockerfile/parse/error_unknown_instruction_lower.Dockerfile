FROM alpine
runn echo typo
