# The two commands: `make demo` (ingest the bundled sample log, serve the web UI) and `make test`.
# Each installs what it needs itself: a venv with the package, and Debian packages when run as root.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo/trackdelivery.sqlite3
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8080

.PHONY: demo test lint bench venv debs clean

# setup.py builds the compiled fast paths (C); a change to them reinstalls.
$(BIN)/trackdelivery: pyproject.toml setup.py $(wildcard src/trackdelivery/*.h src/trackdelivery/*.c src/trackdelivery/*/*.c src/trackdelivery/*/*.h)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/trackdelivery

# eximstats (exim4-base) and pflogsumm are the independent oracles the tests compare with;
# chromium is the real browser the page's end-to-end tests drive (no browser download);
# exim4-daemon-light and swaks are the real MTA and SMTP client of tests/mta (docs/mta-tests.md);
# libnet-ssleay-perl lets swaks send with --tls, openssl makes the TLS tests' self-signed certificate.
# exim4-daemon-light is not installed over another MTA (Debian allows one): the tests unpack it instead.
# The exim4 daemon Debian starts after installing it is stopped: the tests run their own Exim.
debs:
	@missing=""; \
	command -v eximstats >/dev/null 2>&1 || missing="$$missing exim4-base"; \
	command -v pflogsumm >/dev/null 2>&1 || missing="$$missing pflogsumm"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v exim4 >/dev/null 2>&1 || [ -x /usr/sbin/exim4 ] || \
	  dpkg-query -W -f '$${db:Status-Abbrev} $${Provides}\n' 2>/dev/null | grep -q '^ii.*mail-transport-agent' || \
	  missing="$$missing exim4-daemon-light"; \
	command -v swaks >/dev/null 2>&1 || missing="$$missing swaks"; \
	perl -MNet::SSLeay -e1 2>/dev/null || missing="$$missing libnet-ssleay-perl"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || exit 1; \
	    case "$$missing" in *exim4-daemon-light*) \
	      if [ -s /run/exim4/exim.pid ]; then service exim4 stop >/dev/null 2>&1 || true; fi;; \
	    esac; \
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
