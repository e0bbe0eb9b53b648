# Cosmic Gardener realtime — build, run and test.
# `make run` builds everything and starts a development server on :8080;
# `make test` installs what it needs and runs every test.

GO        ?= go
GOROOT    := $(shell $(GO) env GOROOT)
BIN       := bin/cosmic-server
WEB_DIST  := web/dist
WASM      := $(WEB_DIST)/cosmic.wasm
WASM_EXEC := $(GOROOT)/lib/wasm/wasm_exec.js
GO_WASM_TEST_EXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec

.PHONY: all build server wasm web run test test-go test-wasm test-web test-e2e e2e-deps check fuzz bench clean

all: build

build: server wasm web

server:
	$(GO) build -trimpath -o $(BIN) ./server

# The WASM module: size-conscious flags (no DWARF, no symbol table).
wasm:
	@mkdir -p $(WEB_DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(WASM) ./wasm
	cp $(WASM_EXEC) $(WEB_DIST)/wasm_exec.js

web/node_modules: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch web/node_modules

web: web/node_modules wasm
	cd web && npm run build

run: build
	@mkdir -p data logs
	DEV_MODE=1 LOG_FILE=logs/websocket.log ./$(BIN)

test: check test-go test-wasm test-web test-e2e

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/ ./shared/...

# Everything but the browser suite, with the race detector.
test-go:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

# The shared core under GOOS=js in Node, and the same vectors through the
# built module.
test-wasm: wasm
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(GO_WASM_TEST_EXEC)" ./shared/...
	node --test wasm/test/

test-web: web/node_modules
	cd web && npm run typecheck && npm test

# Debian's chromium and the Playwright driver (npm playwright-core 1.52.0);
# nothing downloads a browser.
CHROMIUM ?= /usr/bin/chromium
e2e-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else echo "chromium missing: sudo apt-get install -y chromium"; exit 1; fi; \
	fi
	cd e2e && npm ci --no-audit --no-fund

test-e2e: server web e2e-deps
	E2E=1 $(GO) test -count=1 -timeout 15m ./e2e/

FUZZTIME ?= 20s
fuzz:
	$(GO) test ./shared/protocol -run '^$$' -fuzz FuzzDecodeClient -fuzztime $(FUZZTIME)
	$(GO) test ./shared/patch -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME)
	$(GO) test ./shared/rules -run '^$$' -fuzz FuzzRules -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./shared/... ./server/...

clean:
	rm -rf bin $(WEB_DIST) web/dist-test
