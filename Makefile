# recgate — build, run, test.
GO      ?= go
BIN     := bin/recgate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REV     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REV)
FUZZTIME ?= 20s

.PHONY: all build run test pbx-test pbx-bench vet fmt fmt-check fuzz bench clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/recgate

# Run the server on the embedded default: ./recgate.db, config.example.yaml
# and rules.example.yaml from this directory, listening on loopback.
run: build
	./$(BIN) --config config.example.yaml serve

# All tests, with the race detector, plus vet and a gofmt check.
test: fmt-check
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Only the tests on a real Asterisk (docs/pbx-tests.md). They skip without
# the lab: point RECGATE_ASTERISK_LAB at ../shared/asterisk-lab.
pbx-test:
	CGO_ENABLED=1 $(GO) test -race -count=1 -run 'TestPBX|TestExamples|TestCall|TestTestcall|TestRealAsterisk|TestDialplan' ./internal/asterisktest/ ./ami/ ./cmd/recgate/

# recgate's cost on real call setup, against a bare FastAGI responder, and
# the call rate one Asterisk sustains through recgate (docs/pbx-tests.md).
PBX_BENCH_CALLS ?= 200
pbx-bench:
	RECGATE_PBX_BENCH=$(PBX_BENCH_CALLS) CGO_ENABLED=1 $(GO) test -count=1 -timeout 30m -run '^TestPBX(Bench|DecideTime)$$' -v ./cmd/recgate/

# gofmt over the tracked Go files in a git checkout, else over every Go
# file under this directory (a release tarball, a copy without .git): the
# check must never pass by checking nothing.
fmt-check:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  files=$$(git ls-files '*.go'); \
	else \
	  files=$$(find . -name '*.go' -not -path '*/.*' -not -path '*/testdata/*'); \
	fi; \
	test -n "$$files" || { echo "fmt-check: no Go files found"; exit 1; }; \
	out=$$(gofmt -l $$files); \
	test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }

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
