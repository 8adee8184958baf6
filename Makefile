# Shubbak: `make run` serves the embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: install run test lint lint-imports bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -c constraints.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/shubbak serve --prepare --demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check engine api storage forms cli admin_ui tests bench harness
	$(BIN)/mypy engine api storage forms cli admin_ui
	$(MAKE) lint-imports

# The layers (contracts in pyproject.toml, docs/architecture.md). docs/screenshots is no package, so a grep
# keeps its scripts off the tests as the contracts keep bench/ and harness/ off them.
lint-imports: install
	$(BIN)/lint-imports --no-cache
	@! grep -rnE '^\s*(from|import) tests([. ]|$$)' docs --include=*.py || (echo "docs/ imports tests" && false)

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
