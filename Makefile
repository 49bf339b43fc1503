# The two commands: `make demo` (ingest the bundled sample log, serve the web UI) and `make test`.
# Each installs what it needs itself: a venv with the package, and Debian packages when run as root.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo/trackdelivery.sqlite3
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8080

.PHONY: demo test lint bench venv debs clean

$(BIN)/trackdelivery: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/trackdelivery

# eximstats (exim4-base) and pflogsumm are the independent oracles the tests compare with;
# chromium is the real browser the page's end-to-end tests drive (no browser download).
debs:
	@missing=""; \
	command -v eximstats >/dev/null 2>&1 || missing="$$missing exim4-base"; \
	command -v pflogsumm >/dev/null 2>&1 || missing="$$missing pflogsumm"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Missing Debian packages:$$missing — run 'sudo apt-get install$$missing' or run make as root."; exit 1; \
	  fi; \
	fi

demo: venv
	mkdir -p demo
	$(BIN)/trackdelivery --db $(DEMO_DB) ingest src/trackdelivery/sample/exim_mainlog
	$(BIN)/trackdelivery --db $(DEMO_DB) stats
	$(BIN)/trackdelivery --db $(DEMO_DB) users demo-admin
	$(BIN)/trackdelivery --db $(DEMO_DB) serve --host $(DEMO_HOST) --port $(DEMO_PORT)

test: venv debs
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/trackdelivery

bench: venv debs
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/run_exim.py --lines 1000000

clean:
	rm -rf $(VENV) demo .pytest_cache
