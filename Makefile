# The README's two commands are `make demo` and `make test`; both set up first.
PYTHON ?= python3
BAKECTL ?= $(PYTHON) -m bakectl.cli.main

.PHONY: setup engine tools deps bootstrap demo test unit integration lint bench clean

setup: engine tools deps bootstrap

engine:
	bash scripts/setup-engine.sh

# Host tools the tests use besides the engine (libfaketime, a browser).
tools:
	bash scripts/setup-test-tools.sh
	sh scripts/setup-browser.sh

deps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'

bootstrap: deps
	$(BAKECTL) images bootstrap

# The main job on the example catalog: offline, replayed, no API key.
demo: setup
	$(BAKECTL) validate
	$(BAKECTL) build all --agent chat --agent oracle --agent nop
	$(BAKECTL) list images
	$(BAKECTL) run arith --agent chat --task-id 1 --replay tests/fixtures/arith/1-chat
	$(BAKECTL) run arith --agent chat --tasks all -n 2 --replay-dir tests/fixtures/arith --out runs/demo
	$(BAKECTL) report $$(ls -td runs/demo/*/ | head -1)
	$(BAKECTL) oracle terminal-tasks --all
	$(BAKECTL) agents fetch codex
	$(BAKECTL) run arith --agent codex --task-id 1 --replay tests/fixtures/agents/codex/arith-1

test: setup
	$(PYTHON) -m pytest -q -ra

unit: deps
	$(PYTHON) -m pytest -q tests/unit

lint: deps
	$(PYTHON) -m ruff check bakectl tests bench
	$(PYTHON) -m ruff format --check bakectl tests bench
	bash .github/lint-workflows.sh

bench: setup
	$(PYTHON) bench/build_bench.py
	$(PYTHON) bench/cli_bench.py
	$(PYTHON) bench/gateway_bench.py
	$(PYTHON) bench/batch_bench.py
	$(PYTHON) bench/report_bench.py
	$(PYTHON) bench/release_bench.py
	$(PYTHON) bench/agent_bench.py
	$(PYTHON) bench/scale_bench.py

clean:
	rm -rf .bakectl
