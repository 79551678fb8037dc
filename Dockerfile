# Images of the lottery, built FROM scratch around the static binaries that
# `make build` leaves in bin/ (CGO_ENABLED=0): no base image is pulled, and no
# configuration or data is baked in; both come in through volumes.
#
#   docker build --target server -t quiniela-server .
#   docker build --target client -t quiniela-client .

FROM scratch AS server
COPY bin/server bin/healthcheck /
# The check reads its settings from the environment and, in a deployment,
# from the mounted /config/healthcheck.env.
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 \
    CMD ["/healthcheck", "--env-file", "/config/healthcheck.env"]
ENTRYPOINT ["/server"]
CMD ["--env-file", "/config/server.env"]

FROM scratch AS client
COPY bin/client /
ENTRYPOINT ["/client"]
CMD ["--env-file", "/config/client.env"]
