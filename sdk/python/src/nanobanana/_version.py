"""The SDK's version (read by hatchling at build time and by `nanobanana.__version__`)."""

__version__ = "0.1.0"
