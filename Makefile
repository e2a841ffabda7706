# Sales Playbook Lab. `make demo` and `make test` are all a fresh machine needs (Python >= 3.11 and pip).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit test-notebooks notebooks lab whatif bench clean

install: $(STAMP)

# (Re)create the virtual environment whenever the dependencies change.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $@

# A simulated Salesforce-style export with a few rows broken on purpose, and the report built on it; the
# report prints the path of its index.html. Exit status 1 (an analysis skipped or failed) still shows the report.
demo: install
	$(BIN)/playbook synth --crm salesforce --seed 7 --broken 12 --out runs/demo-export
	$(BIN)/playbook report runs/demo-export --crm salesforce --seed 7 -o runs/demo-report --force || [ $$? -eq 1 ]

test: install
	PLAYBOOK_PROGRESS=0 $(BIN)/python -m pytest tests notebooks --nbval -p no:cacheprovider

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
