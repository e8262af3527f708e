# recgate — build, run, test.
GO      ?= go
BIN     := bin/recgate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REV     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REV)
FUZZTIME ?= 20s

.PHONY: all build run test pbx-test pbx-bench vet fmt fuzz bench clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/recgate

# Run the server on the embedded default: ./recgate.db, config.example.yaml
# and rules.example.yaml from this directory, listening on loopback.
run: build
	./$(BIN) --config config.example.yaml serve

# All tests, with the race detector, plus vet and a gofmt check.
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Only the tests on a real Asterisk (docs/pbx-tests.md). They skip without
# the lab: point RECGATE_ASTERISK_LAB at ../shared/asterisk-lab.
pbx-test:
	CGO_ENABLED=1 $(GO) test -race -count=1 -run 'TestPBX|TestExamples|TestCall|TestTestcall|TestAMI' ./internal/asterisktest/ ./ami/ ./cmd/recgate/

# recgate's cost on real call setup, against a bare FastAGI responder, and
# the call rate one Asterisk sustains through recgate (docs/pbx-tests.md).
PBX_BENCH_CALLS ?= 200
pbx-bench:
	RECGATE_PBX_BENCH=$(PBX_BENCH_CALLS) CGO_ENABLED=1 $(GO) test -count=1 -timeout 30m -run '^TestPBXBench$$' -v ./cmd/recgate/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
