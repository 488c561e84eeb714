"""The Debian archive the test suite's debootstrapped roots come from."""
import glob
import os
import re


def debian_mirror():
    """$GPUCI_DEBIAN_MIRROR, else the host's Debian mirror (its apt sources), else deb.debian.org."""
    if os.environ.get("GPUCI_DEBIAN_MIRROR"):
        return os.environ["GPUCI_DEBIAN_MIRROR"]
    for path in glob.glob("/etc/apt/sources.list.d/*.sources") + ["/etc/apt/sources.list"]:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for url in re.findall(r"(?:URIs:|^deb)\s+(\S+)", text, re.M):
            if url.rstrip("/").endswith("/debian"):
                return url
    return "http://deb.debian.org/debian"
