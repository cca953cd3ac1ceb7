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
    -o /out/gatekeeper ./cmd/gatekeeper

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/gatekeeper /app/gatekeeper
COPY policies /app/policies
USER nonroot:nonroot
ENV GATEKEEPER_POLICIES=/app/policies \
    GATEKEEPER_STORE=bolt:///app/data/gatekeeper.db
EXPOSE 8080
ENTRYPOINT ["/app/gatekeeper"]
CMD ["serve"]
