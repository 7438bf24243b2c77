# jetray: build, demo and test targets. `make help` lists them.

GO      ?= go
BIN     := bin
NATS_SD ?= ./tmp/nats
NATS_ADDR ?= 127.0.0.1
FUZZTIME ?= 60s
CHAOS_TIME ?= 5m
SCALE_ACTORS ?= 100000

.PHONY: help build demo test bench bench-scale bench-cluster nats cluster vet fuzz chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

build: $(BIN)/nats-server ## build bin/worker, bin/driver and bin/nats-server
	$(GO) build -o $(BIN)/ ./cmd/...

$(BIN)/nats-server: go.mod go.sum
	$(GO) build -o $@ github.com/nats-io/nats-server/v2

demo: ## run the API tour on an embedded server
	$(GO) run ./cmd/driver demo

test: $(BIN)/nats-server ## run every test with the race detector, then the 50 MB value test without it
	JETRAY_NATS_SERVER=$(abspath $(BIN)/nats-server) $(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 5m -run 'TestLargeValuesThroughObjectStore$$' ./framework

chaos: $(BIN)/nats-server ## fault-injection run: 3 worker processes under kills, stops, cuts, broker kills (CHAOS_TIME, default 5m; CHAOS_SEED=n replays)
	CHAOS_TIME=$(CHAOS_TIME) JETRAY_NATS_SERVER=$(abspath $(BIN)/nats-server) $(GO) test -race -count=1 -run TestChaos -timeout 40m -v ./chaostest

bench: ## driver bench (Ray's microbenchmarks beside bare JetStream; writes bench.json; BENCH_FLAGS="-count 3 -paired"), then the Go benchmarks
	$(GO) run ./cmd/driver bench -json bench.json $(BENCH_FLAGS)
	$(GO) test -run xxx -bench . -benchmem ./futures ./framework

bench-scale: $(BIN)/nats-server ## BenchmarkActors100k: SCALE_ACTORS actors (default 100000; 5000 for a quick run) on one server, two workers; not in make test
	JETRAY_SCALE_ACTORS=$(SCALE_ACTORS) JETRAY_NATS_SERVER=$(abspath $(BIN)/nats-server) $(GO) test -run xxx -bench 'Actors100k$$' -benchtime 1x -timeout 180m -v ./actors

nats: $(BIN)/nats-server ## run a NATS server with JetStream on 127.0.0.1:4222, storing in ./tmp/nats
	mkdir -p $(NATS_SD)
	$(BIN)/nats-server -js -a $(NATS_ADDR) -sd $(NATS_SD)

CLUSTER_URLS ?= nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
CLUSTER_ACTORS ?= 500
bench-cluster: ## with `make cluster` running elsewhere: driver bench against it with R3 streams (BENCH_FLAGS), then BenchmarkActorCreate of CLUSTER_ACTORS (default 500) actors on it
	$(GO) run ./cmd/driver bench -nats $(CLUSTER_URLS) -replicas 3 $(BENCH_FLAGS)
	JETRAY_BENCH_NATS=$(CLUSTER_URLS) $(GO) test -run xxx -bench 'ActorCreate$$' -benchtime $(CLUSTER_ACTORS)x -timeout 60m ./actors

cluster: $(BIN)/nats-server ## run a local 3-node NATS cluster (client ports 4222-4224, data in ./tmp/cluster) until Ctrl-C
	scripts/cluster.sh $(BIN)/nats-server

vet: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run each fuzz target for FUZZTIME (default 60s); new corpus entries land in the Go cache
	$(GO) test -run xxx -fuzz 'FuzzDecodeCall$$' -fuzztime $(FUZZTIME) ./framework
	$(GO) test -run xxx -fuzz 'FuzzDecodeResult$$' -fuzztime $(FUZZTIME) ./framework
	$(GO) test -run xxx -fuzz 'FuzzAppendTaskEvent$$' -fuzztime $(FUZZTIME) ./framework
	$(GO) test -run xxx -fuzz 'FuzzCallOptions$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run xxx -fuzz 'FuzzDecodeCallOptions$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run xxx -fuzz 'FuzzTaskSubject$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run xxx -fuzz 'FuzzValidName$$' -fuzztime $(FUZZTIME) ./internal/wire
