# Images of the lottery, built FROM scratch around the static binaries that
# `make build` leaves in bin/ (CGO_ENABLED=0): no base image is pulled, and no
# configuration or data is baked in; both come in through volumes.
#
#   docker build --target server -t quiniela-server .
#   docker build --target client -t quiniela-client .
#
# Both run as the unprivileged user 65532: what is mounted for them to write
# (the store folder) or read (TLS keys) must allow it, which
# generar-compose.sh arranges (it names this user too).

FROM scratch AS server
COPY bin/server bin/healthcheck /
# The check reads its settings from the environment and, in a deployment,
# from the mounted /config/healthcheck.env.
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 \
    CMD ["/healthcheck", "--env-file", "/config/healthcheck.env"]
USER 65532:65532
ENTRYPOINT ["/server"]
CMD ["--env-file", "/config/server.env"]

FROM scratch AS client
COPY bin/client /
USER 65532:65532
ENTRYPOINT ["/client"]
CMD ["--env-file", "/config/client.env"]
