# kejin — 两条命令起步 / two commands to start: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_FIRMS ?= 30000
DEMO_SEED  ?= 20241
export KEJIN_DATABASE_URL ?= sqlite:///kejin.db
# The region the demo serves: its name, policies and fund in one file (docs/region.md).
export KEJIN_REGION ?= lianyungang

.PHONY: demo test bench lint mutate venv install install-test system-deps clean import-examples locale messages

# $(call ensure,CHECK,PACKAGE,WHAT IS LOST WITHOUT IT): install a Debian package when CHECK
# fails and we may (root or passwordless sudo); otherwise say what is lost and go on.
define ensure
	@if $(1); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q $(2) >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(2) >/dev/null)) \
	  && echo "installed $(2)"; \
	elif sudo -n true 2>/dev/null; then sudo apt-get install -y -q $(2) >/dev/null && echo "installed $(2)"; \
	else echo "warning: $(2) missing; $(3) (apt-get install $(2))"; fi
endef

# Charts carry Chinese labels: without a CJK font they render as tofu boxes. Browser tests drive
# Debian's Chromium headless (Playwright with executable_path, no download). The Spark engine
# (docs/scale.md) runs on Debian's Java 17 runtime.
system-deps:
	$(call ensure,fc-list 2>/dev/null | grep -qi "Noto Sans CJK",fonts-noto-cjk,Chinese chart labels will not render)
	$(call ensure,command -v chromium >/dev/null,chromium,browser tests will be skipped)
	$(call ensure,command -v java >/dev/null,openjdk-17-jre-headless,the Spark engine and its tests will be skipped)
	$(call ensure,test -f /usr/share/java/postgresql.jar,libpostgresql-jdbc-java,Spark cannot read PostgreSQL over JDBC (--source jdbc) and its tests will be skipped)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files make installs re-run only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench,spark]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed locale
install-test: $(VENV)/.installed-test locale

# Page texts are gettext catalogs, one per language (src/kejin/web/locale/<lang>/LC_MESSAGES/
# kejin.po; docs/service.md, "Page texts"). The server reads the compiled .mo (not in git): pip's
# build compiles them (setup.py), and `make locale` recompiles whichever .po changed since.
# `make messages` brings every .po up to date with the code: new t('key') calls arrive with an
# empty text to fill in (compiling refuses until each is filled), keys no longer used leave.
LOCALE   := src/kejin/web/locale
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(LOCALE)/*/LC_MESSAGES/kejin.po))
$(LOCALE)/%.mo: $(LOCALE)/%.po | $(BIN)/python
	PYTHONPATH=src $(BIN)/python -m kejin.web.catalogs
locale: $(MO_FILES)
messages: | $(BIN)/python
	PYTHONPATH=src $(BIN)/python -m kejin.web.messages

# The demo region is big enough (30,000 firms) for the tech-firm credit model to see ten defaults
# in each window; points are scored for 2024 as well, the year its training window's features read.
# The whitelist is pushed to the partner banks and the demo bank officer gets decisions on its
# borrowers, so every role finds its pages filled. The demo accounts come right after the region:
# every later step a person takes (push, publish, approve, pay, decide) acts as one of them
# (--who), through the same audited services as the web; batch runs (scoring, refresh, the
# model) are recorded as the system (docs/service.md, "CLI commands and who they act as").
# The whitelist is also taken as at the region's last data month (2026-06-30), so the statistics
# of that month have a whitelist-based population and tiers; the LPR table is loaded with the
# published values it ships, and the month's statistics book is written to out/stats.
# The audit chain is signed (MAC) with a per-machine key kept outside the repository and the
# database (docs/service.md): generated once under ~/.config/kejin, reused by every later demo.
# A KEJIN_AUDIT_KEY or KEJIN_AUDIT_KEY_FILE already set is used instead.
AUDIT_KEY_FILE ?= $(HOME)/.config/kejin/audit.key
ifeq ($(KEJIN_AUDIT_KEY),)
demo: export KEJIN_AUDIT_KEY_FILE ?= $(AUDIT_KEY_FILE)
endif
demo: install system-deps
	@if [ -z "$$KEJIN_AUDIT_KEY" ]; then $(BIN)/kejin audit keygen; fi
	$(BIN)/kejin db upgrade
	$(BIN)/kejin synth --firms $(DEMO_FIRMS) --seed $(DEMO_SEED) --replace
	$(BIN)/kejin demo-accounts
	$(BIN)/kejin points score --system most-v1 --year 2024
	$(BIN)/kejin points score --system most-v1
	$(BIN)/kejin whitelist refresh --as-of 2026-06-30
	$(BIN)/kejin whitelist refresh
	$(BIN)/kejin whitelist push --institution all --out-dir out/whitelist --who demo_gov
	$(BIN)/kejin summary
	$(BIN)/kejin stats lpr import
	$(BIN)/kejin stats book --month 2026-06 --out out/stats/stats-2026-06.xlsx
	$(BIN)/kejin credit tech-model --out credit-tech-firm.json --register tech_firm --skip-if-insufficient
	$(BIN)/kejin credit warnings --month 2026-06
	$(BIN)/kejin policy demo --who demo_gov --checker demo_reviewer
	$(BIN)/kejin fund demo --capital 50000000 --out out --replace --who demo_gov --checker demo_reviewer
	$(BIN)/kejin match products adopt --who demo_gov --checker demo_reviewer
	$(BIN)/kejin match demo --who demo_gov --checker demo_reviewer --firm demo_firm --bank demo_bank
	$(BIN)/kejin credit demo --who demo_bank --consents 5
	$(BIN)/kejin relend demo --who demo_gov --checker demo_reviewer --bank demo_bank
	$(BIN)/kejin stats demo --who demo_gov
	@echo "演示账户的密码见上方 kejin demo-accounts 的输出（仅显示一次）/ the demo accounts' passwords are printed above by kejin demo-accounts (once)"
	$(BIN)/kejin serve

test: install-test system-deps
	$(BIN)/python -m pytest

# The service bench drives its load with wrk (C; cheap on a 2-core machine): installed like the
# system packages above when missing and we may.
bench: install-test system-deps
	$(call ensure,command -v wrk >/dev/null,wrk,the service load bench will be skipped)
	$(BIN)/python -m bench

# Mutation testing (the `mutate` extra, mutmut; never part of `make test`): mutates fund/,
# policy/engine, whitelist/rules, points/official and access/rules ([tool.mutmut] in
# pyproject.toml) and lists the survivors. Slow: narrow it with MUTANTS, e.g.
# `make mutate MUTANTS='kejin.points.official.*'`; MUTATE_JOBS workers (the machine is shared).
MUTANTS ?=
MUTATE_JOBS ?= 1
$(VENV)/.installed-mutate: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,mutate]"
	touch $@ $(VENV)/.installed

mutate: $(VENV)/.installed-mutate
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Every example file of examples/, in reference order, into its own database (docs/ingest.md).
EXAMPLES_DB ?= sqlite:///examples.db
EXAMPLE_FILES := enterprises:enterprises.csv qualifications:qualifications.xlsx \
  indicators:indicators.parquet financing:financing.csv institutions:institutions.csv \
  products:products.xlsx loans:loans.csv loan-status:loan-status.parquet
import-examples: install
	KEJIN_DATABASE_URL=$(EXAMPLES_DB) $(BIN)/kejin db upgrade
	@for k in $(EXAMPLE_FILES); do \
	  KEJIN_DATABASE_URL=$(EXAMPLES_DB) $(BIN)/kejin import "$${k%%:*}" "examples/$${k#*:}" || exit $$?; \
	done

clean:
	rm -rf $(VENV) kejin.db kejin.db-wal kejin.db-shm examples.db examples.db-wal examples.db-shm .pytest_cache .ruff_cache .hypothesis out credit-tech-firm.json
