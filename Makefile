# Sales Playbook Lab. `make demo` and `make test` are all a fresh machine needs (Python >= 3.11 and pip).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

LOCK   := requirements.lock
# A fingerprint of pyproject.toml's dependency lists: `make lock` writes it into the lock, `make install` compares.
DEPS_HASH = $(PYTHON) -c 'import hashlib, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(hashlib.sha256(repr((p["requires-python"], sorted(p["dependencies"]), sorted(p["optional-dependencies"]["test"]))).encode()).hexdigest()[:16])'

.PHONY: install lock deps-hash demo test test-unit test-notebooks notebooks lab whatif bench clean

install: $(STAMP)

# (Re)create the virtual environment whenever the dependencies or the lock change. The exact versions come
# from $(LOCK), so a fresh machine gets the versions the tests and the stored notebook outputs were made with.
# If pyproject.toml lists a dependency the lock was not made for, the locked versions are still installed and
# pip adds what pyproject.toml asks beyond them (newest matching versions), with a warning to run `make lock`.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@grep -q "^# pyproject-dependencies: $$($(DEPS_HASH))$$" $(LOCK) || echo "warning: $(LOCK) was made for other dependencies than pyproject.toml now lists: installed the locked versions, and pip added what pyproject.toml asks beyond them (not pinned). Run 'make lock' to pin them." >&2
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $@

# Update the lock on purpose: resolve pyproject.toml's dependencies (with the test extras) to exact versions
# for Python 3.11 and later on every platform, one version per package where one fits all (uv from PyPI).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8
	{ echo "# Exact versions 'make install' installs. Made by 'make lock' from pyproject.toml; do not edit by hand."; \
	  echo "# pyproject-dependencies: $$($(DEPS_HASH))"; \
	  $(BIN)/uv pip compile pyproject.toml --extra test --universal --fork-strategy fewest --python-version 3.11 \
	    --no-header --annotation-style line --quiet; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

# The fingerprint `make lock` records (a test checks the lock is in step with pyproject.toml).
deps-hash:
	@$(DEPS_HASH)

# Two simulated years of the `demo` preset written as a Salesforce export (opportunities, stage history, activity
# files, loss reasons, competitors, quotas) with a few rows broken on purpose, and the report built on it; the
# report prints the path of its index.html. Exit status 1 (an analysis skipped or failed) still shows the report.
# The export is taken as of the run's last day, and the same history's export two weeks earlier is kept before it
# in a store of its own (runs/demo-history.duckdb, two snapshots), so the report opens with what changed since.
DEMO_END     := 2027-12-31
DEMO_EARLIER := 2027-12-17
demo: install
	rm -rf runs/demo-export runs/demo-export-earlier runs/demo-history.duckdb
	$(BIN)/playbook synth --crm salesforce --scenario demo --seed 7 --as-of $(DEMO_EARLIER) --out runs/demo-export-earlier
	$(BIN)/playbook ingest runs/demo-export-earlier --crm salesforce --as-of $(DEMO_EARLIER) --store runs/demo-history.duckdb
	$(BIN)/playbook synth --crm salesforce --scenario demo --seed 7 --broken 12 --as-of $(DEMO_END) --out runs/demo-export
	$(BIN)/playbook report runs/demo-export --crm salesforce --seed 7 -o runs/demo-report --force --store runs/demo-history.duckdb || [ $$? -eq 1 ]
	$(BIN)/playbook history --store runs/demo-history.duckdb

test: install
	PLAYBOOK_PROGRESS=0 $(BIN)/python -m pytest tests notebooks --nbval -p no:cacheprovider -n auto --dist loadfile --durations=25

test-unit: install
	$(BIN)/python -m pytest tests

test-notebooks: install
	PLAYBOOK_PROGRESS=0 $(BIN)/python -m pytest --nbval notebooks -p no:cacheprovider

# Re-execute every notebook in place, so the stored outputs are today's results.
notebooks: install
	for nb in notebooks/*.ipynb; do \
	  PLAYBOOK_PROGRESS=0 $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done

lab: install
	$(BIN)/jupyter lab notebooks

# The what-if explorer as a web page for leaders (no code shown): open the address it prints; Ctrl-C stops it.
WHATIF_PORT ?= 8866
whatif: install
	$(BIN)/python -m sim.explorer.serve --port $(WHATIF_PORT)

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python "$$b" || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
