"""skybench: a hardware-in-the-loop test bench for satellite Wi-Fi on passenger trains."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skybench")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+checkout"
