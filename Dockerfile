# Multi-stage build: a static binary on a distroless base, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/gatekeeper ./cmd/gatekeeper && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/gatekeeper /app/gatekeeper
COPY policies /app/policies
# The store's folder belongs to the non-root user (65532 in distroless), so
# that the gatekeeper can create its bbolt file; a volume mounted here keeps
# the same ownership when it is new.
COPY --from=build --chown=65532:65532 /out/data /app/data
USER nonroot:nonroot
VOLUME ["/app/data"]
ENV GATEKEEPER_POLICIES=/app/policies \
    GATEKEEPER_STORE=bolt:///app/data/gatekeeper.db
EXPOSE 8080
ENTRYPOINT ["/app/gatekeeper"]
CMD ["serve"]
