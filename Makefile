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

.PHONY: all build server wasm web generate run run-cluster test test-go test-wasm test-web test-e2e e2e-deps pg-deps check fuzz bench clean

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

# The page: esbuild bundle, static files, and .gz/.br siblings of every
# asset (web/scripts/build.mjs), next to the module: a complete WEB_DIR.
web: web/node_modules wasm
	cd web && npm run build

# Generated sources: the TypeScript protocol types from shared/protocol and
# shared/game. tools/tsgen's test fails when the committed file is stale.
generate:
	$(GO) run ./tools/tsgen

run: build
	@mkdir -p data logs
	DEV_MODE=1 LOG_FILE=logs/websocket.log ./$(BIN)

# A local cluster (tools/devcluster): a throw-away PostgreSQL, an embedded
# NATS server, three nodes in development mode and a round-robin load
# balancer on :8080 (CLUSTER_ADDR). Ctrl-C stops all of it.
CLUSTER_ADDR  ?= :8080
CLUSTER_NODES ?= 3
run-cluster: build pg-deps
	$(GO) build -trimpath -o bin/devcluster ./tools/devcluster
	./bin/devcluster -addr $(CLUSTER_ADDR) -nodes $(CLUSTER_NODES) -bin $(BIN) -web $(WEB_DIST)

test: check test-go test-wasm test-web test-e2e

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/ ./shared/...

# Debian's PostgreSQL server for the store tests (server/internal/pgtest
# runs a throw-away cluster from /usr/lib/postgresql/*/bin; no containers,
# and no test is skipped for want of it).
pg-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q postgresql; \
		else echo "PostgreSQL missing: sudo apt-get install -y postgresql"; exit 1; fi; \
	fi

# Everything but the browser suite, with the race detector.
test-go: pg-deps
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

# The shared core and the adapter (wasm/, its syscall/js glue included)
# under GOOS=js in Node, and the same vectors through the built module.
test-wasm: wasm
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(GO_WASM_TEST_EXEC)" ./shared/... ./wasm/
	node --test wasm/test/

test-web: web/node_modules wasm
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

test-e2e: server web e2e-deps pg-deps
	E2E=1 $(GO) test -count=1 -timeout 15m ./e2e/

FUZZTIME ?= 20s
fuzz:
	$(GO) test ./shared/protocol -run '^$$' -fuzz FuzzDecodeClient -fuzztime $(FUZZTIME)
	$(GO) test ./shared/protocol -run '^$$' -fuzz FuzzAppendResultData -fuzztime $(FUZZTIME)
	$(GO) test ./shared/patch -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shared/rules -run '^$$' -fuzz FuzzRules -fuzztime $(FUZZTIME)
	$(GO) test ./shared/patch -run '^$$' -fuzz FuzzApplyState -fuzztime $(FUZZTIME)
	$(GO) test ./shared/game -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./shared/internal/jsonenc -run '^$$' -fuzz FuzzAppendString -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./shared/... ./server/...

clean:
	rm -rf bin $(WEB_DIST) web/dist-test

# ---- Load testing: tools/loadgen, tools/peers, tools/artillery; results and
# method in docs/performance.md. The load tool starts the server itself
# (--spawn) on a free loopback port with a throw-away DB, samples its CPU
# and RSS, and stops it (SIGTERM, exit 0) at the end. Reports (text on
# stdout, JSON and HTML) go to $(LOAD_REPORTS).
LOADGEN         := bin/loadgen
PEER_CENTRIFUGE := bin/peers/centrifuge-peer
LOAD_SECRET     ?= loadgen-secret-0123456789abcdef0123456789
LOAD_REPORTS    ?= reports/load
LOAD_SERVER     := env ADDR={addr} DB_PATH={tmp}/cosmic.db JWT_SECRET=$(LOAD_SECRET) WEB_DIR={tmp} PPROF=1 ./$(BIN)
LOAD_CENTRIFUGE := ./$(PEER_CENTRIFUGE) -addr {addr}
LOAD_SOCKETIO   := env PORT={port} node tools/peers/socketio/server.js
# Each process may hold up to the hard fd limit (20 000 here).
LOAD_RUN         = ulimit -n $$(ulimit -Hn) && JWT_SECRET=$(LOAD_SECRET) ./$(LOADGEN)
COMPARE_IDLE    ?= 5000

.PHONY: loadgen peers load load-compare load-goals load-artillery load-cluster

loadgen:
	$(GO) build -trimpath -o $(LOADGEN) ./tools/loadgen

peers:
	cd tools/peers/centrifuge && $(GO) build -trimpath -o $(CURDIR)/$(PEER_CENTRIFUGE) .
	cd tools/peers/socketio && npm ci --no-audit --no-fund

# The standard run: fan-out 200 gardens × 5 devices at 400 changes/s for
# 15 s, then 2 000 idle connections.
load: server loadgen
	@mkdir -p $(LOAD_REPORTS)
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario fanout --gardens 200 --devices 5 --rate 400 --duration 15s \
		--json $(LOAD_REPORTS)/fanout.json --html $(LOAD_REPORTS)/fanout.html
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario idle --count 2000 --ramp 1000 --duration 10s \
		--json $(LOAD_REPORTS)/idle.json --html $(LOAD_REPORTS)/idle.html

# (a) idle $(COMPARE_IDLE), (b) fan-out 200 × 5 at 400/s, (c) one garden
# watched by 1 000 devices (MAX_SESSIONS_PER_USER) at 10, 100 and 500
# changes/s — against ours and both peers, then our figures next to theirs
# with ratios.
load-compare: server loadgen peers
	@mkdir -p $(LOAD_REPORTS)/compare && rm -f $(LOAD_REPORTS)/compare/*.json
	@set -e; for t in ours centrifuge socketio; do \
	  case $$t in ours) s='$(LOAD_SERVER)';; centrifuge) s='$(LOAD_CENTRIFUGE)';; socketio) s='$(LOAD_SOCKETIO)';; esac; \
	  $(LOAD_RUN) --target $$t --spawn "$$s" --scenario idle --count $(COMPARE_IDLE) --ramp 1000 --duration 10s --json $(LOAD_REPORTS)/compare/a-idle-$$t.json; \
	  $(LOAD_RUN) --target $$t --spawn "$$s" --scenario fanout --gardens 200 --devices 5 --rate 400 --duration 15s --json $(LOAD_REPORTS)/compare/b-fanout-$$t.json; \
	  for r in 10 100 500; do \
	    $(LOAD_RUN) --target $$t --spawn "$$s" --scenario onegarden --count 1000 --rate $$r --duration 10s --json $(LOAD_REPORTS)/compare/c-onegarden-$$r-$$t.json; \
	  done; \
	done
	./$(LOADGEN) compare $(LOAD_REPORTS)/compare/*.json

# Every goal of docs/performance.md, with server CPU profiles (PPROF=1).
load-goals: server loadgen
	@mkdir -p $(LOAD_REPORTS)/goals
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario storm --count 200 --ramp 20 --duration 1s --json $(LOAD_REPORTS)/goals/connect-alone.json
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario storm --count 15000 --ramp 1000 --duration 2s --json $(LOAD_REPORTS)/goals/storm.json \
		--pprof-out $(LOAD_REPORTS)/goals/storm.pprof
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario idle --count 19000 --ramp 2000 --duration 20s --json $(LOAD_REPORTS)/goals/idle.json \
		--heap-out $(LOAD_REPORTS)/goals/idle.heap \
		--html $(LOAD_REPORTS)/goals/idle.html
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario active --count 1000 --rate 2000 --duration 15s --json $(LOAD_REPORTS)/goals/active.json \
		--html $(LOAD_REPORTS)/goals/active.html --pprof-out $(LOAD_REPORTS)/goals/active.pprof
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario fanout --gardens 1000 --devices 5 --rate 2000 --duration 15s --json $(LOAD_REPORTS)/goals/fanout.json \
		--html $(LOAD_REPORTS)/goals/fanout.html --pprof-out $(LOAD_REPORTS)/goals/fanout.pprof
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario fanout --gardens 10 --devices 1000 --rate 200 --duration 15s --json $(LOAD_REPORTS)/goals/frames.json \
		--html $(LOAD_REPORTS)/goals/frames.html --pprof-out $(LOAD_REPORTS)/goals/frames.pprof
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario patchsize --bodies 500 --json $(LOAD_REPORTS)/goals/patchsize.json
	$(LOAD_RUN) --spawn '$(LOAD_SERVER)' --scenario reconnect --count 5000 --ramp 2000 --json $(LOAD_REPORTS)/goals/reconnect.json

# Several nodes (issue 15): tools/devcluster (a throw-away PostgreSQL, NATS
# in-process, CLUSTER_NODES nodes, the round-robin load balancer) spawned by
# the load tool, which connects through the load balancer, so one garden's
# devices land on different nodes. The same run on one node after it, for
# comparison. Server CPU and RSS are devcluster's and its nodes' (the tool
# counts a spawned process's children); PostgreSQL's run apart and are not
# counted.
LOAD_CLUSTER = env JWT_SECRET=$(LOAD_SECRET) ./bin/devcluster -addr {addr} -bin $(BIN) -web {tmp}
# The issue's rate; on the 2-core machine PostgreSQL saturates well below it
# (docs/performance.md, "Issue 15"): LOAD_CLUSTER_RATE=500 shows the healthy
# figures.
LOAD_CLUSTER_RATE ?= 2000
load-cluster: server loadgen pg-deps
	$(GO) build -trimpath -o bin/devcluster ./tools/devcluster
	@mkdir -p $(LOAD_REPORTS)/cluster
	$(LOAD_RUN) --spawn '$(LOAD_CLUSTER) -nodes 3' --scenario fanout --gardens 1000 --devices 5 --rate $(LOAD_CLUSTER_RATE) --duration 15s \
		--json $(LOAD_REPORTS)/cluster/fanout-3.json --html $(LOAD_REPORTS)/cluster/fanout-3.html
	$(LOAD_RUN) --spawn '$(LOAD_CLUSTER) -nodes 1' --scenario fanout --gardens 1000 --devices 5 --rate $(LOAD_CLUSTER_RATE) --duration 15s \
		--json $(LOAD_REPORTS)/cluster/fanout-1.json --html $(LOAD_REPORTS)/cluster/fanout-1.html
	$(GO) build -trimpath -o bin/failover ./tools/failover
	ulimit -n $$(ulimit -Hn) && ./bin/failover -players 5000 -bin $(BIN)

# Artillery over the same endpoint (tools/artillery/ws.yml); the browser
# download of artillery's playwright engine is skipped: no network here.
tools/artillery/node_modules: tools/artillery/package.json tools/artillery/package-lock.json
	cd tools/artillery && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
	@touch tools/artillery/node_modules

load-artillery: server tools/artillery/node_modules
	BIN=$(BIN) LOAD_SECRET=$(LOAD_SECRET) bash tools/artillery/run.sh
