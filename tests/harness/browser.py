"""Headless Chromium and npm's mermaid for the end-to-end tests of the HTML report.

    from browser import Browser, Unavailable, parse_html, mermaid_js
    b = Browser.start(tmp)               # raises Unavailable(reason)
    page = b.load(path, screenshot=(1400, 900))
    page.root.find_all("g", cls="attempt")    # the DOM after its scripts ran
    page.image.stats()                    # distinct colours, non-background share
    page.page_requests()                  # what the page asked the network for
    js = mermaid_js(build_dir)            # npm's mermaid@11 browser build (Unavailable)

Chromium ($GPUCI_CHROMIUM, else chromium or chromium-browser on PATH) runs
once per load: headless, a fresh --user-data-dir and HOME in the temp dir,
no sandbox (tests run as root in containers), and no network: every host
name resolves to nothing (--host-resolver-rules) and every request goes to a
proxy on 127.0.0.1:9, where nothing listens. --log-net-log records what was
asked all the same: a request made by the page (initiator a document, its
network isolation key file://) is told apart from the browser's own
background requests (initiator "not an origin": time, update and sign-in
queries that Chromium makes however it is started). file:// loads never
appear there: they do not go through the network stack.

--dump-dom with --virtual-time-budget gives the DOM once the page's scripts
and their timers have run (virtual time moves on only when the page is idle,
so a slow machine makes no difference); --screenshot with --window-size a
PNG of the viewport, decoded here (png_decode: 8-bit grey, RGB, grey+alpha,
RGBA, filters 0-4, no interlace; zlib alone).

mermaid_js() installs `mermaid@11` with npm (`npm install --prefix DIR
--no-audit --no-fund`) into $GPUCI_NPM_CACHE, default BUILD/npm-cache,
once: a later call finds it there and asks no registry. Unavailable when npm
is missing or the install fails (no registry: the reason is npm's message).

Also a command line:
    python3 browser.py dom FILE            the DOM after scripts
    python3 browser.py shot FILE PNG [WxH] a screenshot and its pixel statistics
    python3 browser.py stats PNG           pixel statistics of a PNG
    python3 browser.py mermaid BUILD       install mermaid, print its browser build
"""

import fcntl
import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter

MERMAID_SPEC = "mermaid@11"
SKIP = 77  # the suite's "skipped" exit code (SKIP_RETURN_CODE in tests/CMakeLists.txt)


class Unavailable(Exception):
    """The reason Chromium or npm's package cannot be used on this machine."""


def skip(reason):
    """Ends a test file as skipped, saying why."""
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


# --- Chromium ---------------------------------------------------------------

def find_chromium():
    """The Chromium to run: $GPUCI_CHROMIUM, else chromium or chromium-browser on PATH."""
    names = [os.environ["GPUCI_CHROMIUM"]] if os.environ.get("GPUCI_CHROMIUM") else \
        ["chromium", "chromium-browser"]
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    raise Unavailable(f"no {' or '.join(names)} on PATH: apt-get install -y chromium"
                      + (" (or unset GPUCI_CHROMIUM)" if os.environ.get("GPUCI_CHROMIUM") else ""))


def _kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


class Page:
    """One load: the DOM after scripts, the screenshot, the net log, Chromium's stderr."""

    def __init__(self, url, dom, image, netlog, stderr, seconds):
        self.url, self.dom, self.image, self.netlog = url, dom, image, netlog
        self.stderr, self.seconds = stderr, seconds
        self._root = None

    @property
    def root(self):
        if self._root is None:
            self._root = parse_html(self.dom or "")
        return self._root

    def requests(self):
        """Every URL request in the net log: dicts of url, initiator, nik, page."""
        return netlog_requests(self.netlog)

    def page_requests(self):
        """The requests the page (not the browser itself) made: [] for a self-contained one."""
        return [r for r in self.requests() if r["page"]]


class Browser:
    """Headless Chromium, started afresh for each load, everything under its temp dir."""

    def __init__(self, exe, tmp):
        self.exe, self.tmp, self.loads = exe, tmp, 0

    @classmethod
    def start(cls, tmp=None):
        """Finds Chromium and checks that it loads a page; raises Unavailable."""
        exe = find_chromium()
        tmp = tmp or tempfile.mkdtemp(prefix="gpuci-browser.")
        b = cls(exe, os.path.join(tmp, "chromium"))
        os.makedirs(b.tmp, exist_ok=True)
        probe = os.path.join(b.tmp, "probe.html")
        with open(probe, "w") as f:
            f.write("<p id=probe></p><script>probe.textContent='ran'</script>")
        try:
            page = b.load(probe, timeout=60)
        except (OSError, RuntimeError) as e:
            raise Unavailable(f"{exe} does not load a page headless: {e}")
        if 'id="probe">ran<' not in page.dom:
            raise Unavailable(f"{exe} ran no script in a headless page: {page.dom[:200]!r}")
        return b

    def argv(self, profile, netlog, extra):
        return [self.exe, "--headless", "--no-sandbox", f"--user-data-dir={profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--disable-breakpad",
                "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                f"--log-net-log={netlog}", *extra]

    def load(self, path, screenshot=None, budget_ms=5000, timeout=60, dom=True):
        """Loads PATH (a file, or a URL) and returns its Page.

        screenshot: (width, height) of the window to take a PNG of, or None.
        budget_ms: virtual time given to the page's scripts and timers before the dump
        (None: none, the dump comes after the load event and the clock is real)
        Raises RuntimeError when Chromium fails or runs past timeout seconds."""
        url = path if re.match(r"^[a-z]+:", path) else "file://" + os.path.abspath(path)
        self.loads += 1
        d = os.path.join(self.tmp, f"load-{self.loads}")
        os.makedirs(os.path.join(d, "home"))
        netlog = os.path.join(d, "netlog.json")
        extra = [f"--virtual-time-budget={int(budget_ms)}"] if budget_ms else []
        if dom:
            extra.append("--dump-dom")
        png = os.path.join(d, "shot.png")
        if screenshot:
            extra += [f"--screenshot={png}", f"--window-size={screenshot[0]},{screenshot[1]}"]
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(HOME=os.path.join(d, "home"), XDG_CONFIG_HOME=os.path.join(d, "home"),
                   XDG_CACHE_HOME=os.path.join(d, "home"), TMPDIR=d)
        t0 = time.monotonic()
        p = subprocess.Popen(self.argv(os.path.join(d, "profile"), netlog, extra) + [url],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            p.communicate()
            raise RuntimeError(f"chromium still loading {url} after {timeout} s")
        finally:
            _kill_group(p)  # a helper process left behind (none expected)
        seconds = time.monotonic() - t0
        err = err.decode(errors="replace")
        if p.returncode != 0:
            raise RuntimeError(f"chromium exit {p.returncode} on {url}: {_tail(err)}")
        image = None
        if screenshot:
            if not os.path.exists(png):
                raise RuntimeError(f"chromium wrote no screenshot of {url}: {_tail(err)}")
            with open(png, "rb") as f:
                image = png_decode(f.read())
        return Page(url, out.decode(errors="replace") if dom else None, image,
                    read_netlog(netlog), err, seconds)


def _tail(text, n=600):
    lines = [l for l in text.splitlines() if "dbus" not in l]  # no D-Bus here: noise
    return "\n".join(lines)[-n:]


def read_netlog(path):
    """The net log's JSON ({} when absent); a log cut short is closed as Chromium would."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        text = text.rstrip().rstrip(",")
        for tail in ("]}", "}]}", "]}]}"):
            try:
                return json.loads(text + tail)
            except ValueError:
                pass
    return {}


def netlog_requests(log):
    """The URL requests of a net log: [{url, initiator, nik, page}], in order.

    page: made by a document (its initiator an origin, "null" for file://, or
    its network isolation key a file:// site), not by the browser itself."""
    if not log:
        return []
    types = log.get("constants", {}).get("logEventTypes", {})
    start = types.get("URL_REQUEST_START_JOB")
    out = []
    for e in log.get("events", []):
        p = e.get("params") or {}
        if e.get("type") != start or "url" not in p:
            continue
        ini, nik = str(p.get("initiator", "")), str(p.get("network_isolation_key", ""))
        out.append({"url": p["url"], "initiator": ini, "nik": nik,
                    "page": ini != "not an origin" or "file://" in nik})
    return out


# --- PNG --------------------------------------------------------------------

class Image:
    """A decoded PNG: width, height, channels (1-4), rows (bytes, width*channels each)."""

    def __init__(self, width, height, channels, rows):
        self.width, self.height, self.channels, self.rows = width, height, channels, rows

    def pixels(self):
        """Counter of (r, g, b) over every pixel (alpha left out, grey as r=g=b)."""
        c = Counter()
        n = self.channels
        for row in self.rows:
            if n >= 3:
                c.update(zip(row[0::n], row[1::n], row[2::n]))
            else:
                c.update((v, v, v) for v in row[0::n])
        return c

    def pixel(self, x, y):
        n = self.channels
        v = self.rows[y][x * n:(x + 1) * n]
        return tuple(v[:3]) if n >= 3 else (v[0],) * 3

    def stats(self):
        """{width, height, distinct, background, non_background}: the most frequent
        colour is the background; non_background the share of the other pixels."""
        c = self.pixels()
        total = self.width * self.height
        bg, n = c.most_common(1)[0]
        return {"width": self.width, "height": self.height, "distinct": len(c),
                "background": bg, "non_background": (total - n) / total, "counts": c}

    def share(self, rgb, tol=0):
        """The share of pixels within tol (per channel) of rgb."""
        c = self.pixels()
        hit = sum(k for col, k in c.items() if all(abs(a - b) <= tol for a, b in zip(col, rgb)))
        return hit / (self.width * self.height)


def png_decode(data):
    """Decodes an 8-bit, non-interlaced PNG (grey, RGB, grey+alpha, RGBA) to an Image."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    i, idat, hdr = 8, [], None
    while i + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        if len(body) != n:
            raise ValueError(f"PNG chunk {kind!r} cut short")
        if zlib.crc32(kind + body) != struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0]:
            raise ValueError(f"PNG chunk {kind!r}: bad CRC")
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        i += 12 + n
    if not hdr:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"PNG depth {depth} colour type {ctype} interlace {interlace}: "
                         "only 8-bit grey/RGB/RGBA without interlace")
    raw = zlib.decompress(b"".join(idat))
    stride = w * channels
    if len(raw) != h * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, not {h * (stride + 1)}")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        _unfilter(f, line, prev, channels)
        rows.append(bytes(line))
        prev = line
    return Image(w, h, channels, rows)


def _unfilter(f, line, prev, bpp):
    n = len(line)
    if f == 0:
        return
    if f == 1:
        for x in range(bpp, n):
            line[x] = (line[x] + line[x - bpp]) & 255
    elif f == 2:
        for x in range(n):
            line[x] = (line[x] + prev[x]) & 255
    elif f == 3:
        for x in range(n):
            left = line[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
    elif f == 4:
        for x in range(n):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[x] = (line[x] + pred) & 255
    else:
        raise ValueError(f"PNG filter type {f}")


# --- HTML / SVG DOM ---------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class Node:
    """An element (tag, attrs, children, parent) or a text node (tag None, text)."""

    def __init__(self, tag, attrs=None, parent=None, text=""):
        self.tag, self.attrs, self.parent, self.data = tag, dict(attrs or {}), parent, text
        self.children = []

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def iter(self):
        """This node's elements, itself first, in document order."""
        stack = [self]
        while stack:
            n = stack.pop()
            if n.tag is not None:
                yield n
                stack.extend(reversed(n.children))

    def find_all(self, tag=None, cls=None, **attrs):
        """Descendant elements (itself included) by tag, class and attributes
        (data_lane="3" for data-lane; True for any value)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        out = []
        for n in self.iter():
            if tag and n.tag != tag:
                continue
            if cls and cls not in n.classes():
                continue
            if all((k in n.attrs) if v is True else n.attrs.get(k) == v for k, v in want.items()):
                out.append(n)
        return out

    def find(self, tag=None, cls=None, **attrs):
        r = self.find_all(tag, cls, **attrs)
        return r[0] if r else None

    def by_id(self, ident):
        return self.find(id=ident)

    def text(self):
        """The text of this node and its descendants."""
        if self.tag is None:
            return self.data
        return "".join(c.text() for c in self.children)

    def ancestors(self):
        n = self.parent
        while n is not None:
            yield n
            n = n.parent

    def __repr__(self):
        a = " ".join(f'{k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.tag} {a}>" if self.tag else repr(self.data[:40])


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, [(k, v if v is not None else "") for k, v in attrs], self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, [(k, v or "") for k, v in attrs], self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(Node(None, parent=self.cur, text=data))


def parse_html(text):
    """The document's root Node (html.parser: tags and attribute names lower-cased)."""
    p = _Parser()
    p.feed(text)
    p.close()
    return p.root


EXTERNAL = re.compile(r"(?i)\b(?:https?|wss?|ftp):|(?:\b(?:src|href|action)\s*=\s*[\"']?"
                      r"|url\(\s*[\"']?|@import\s+[\"']?)//")
NAMESPACE = re.compile(r"(?i)\bxmlns(?::\w+)?\s*=\s*[\"']https?://www\.w3\.org/[^\"']*[\"']")


def external_urls(text):
    """What in an HTML text names another host: http(s)/ws/ftp URLs, and
    protocol-relative //host references in src/href/url()/@import. XML
    namespace names (xmlns="http://www.w3.org/...") are names, never fetched,
    and are left out."""
    text = NAMESPACE.sub("", text)
    return [text[max(0, m.start() - 30):m.end() + 40] for m in EXTERNAL.finditer(text)]


# --- npm --------------------------------------------------------------------

def npm_cache(build=None):
    """$GPUCI_NPM_CACHE, else BUILD/npm-cache (BUILD: the build tree, else the temp dir)."""
    if os.environ.get("GPUCI_NPM_CACHE"):
        return os.path.abspath(os.environ["GPUCI_NPM_CACHE"])
    return os.path.join(os.path.abspath(build or tempfile.gettempdir()), "npm-cache")


def npm_package(spec, build=None, timeout=240):
    """The folder of npm package SPEC ("name@major") installed under the npm
    cache, installed first when it is not there; raises Unavailable."""
    name, _, version = spec.rpartition("@") if spec.count("@") > spec.startswith("@") else \
        (spec, "", "")
    cache = npm_cache(build)
    prefix = os.path.join(cache, re.sub(r"[^A-Za-z0-9.-]+", "_", spec))
    pkg = os.path.join(prefix, "node_modules", name)
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two tests installing at once
        if _installed(pkg, version):
            return pkg
        npm = shutil.which("npm")
        if not npm:
            raise Unavailable(f"no npm to install {spec}: apt-get install -y npm")
        os.makedirs(prefix, exist_ok=True)
        argv = [npm, "install", "--prefix", prefix, "--no-audit", "--no-fund",
                "--no-update-notifier", "--loglevel=error", "--fetch-retries=1",
                "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=5000",
                "--cache", os.path.join(cache, "_npm"), spec]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"npm install {spec}: no answer in {timeout} s (no registry?)")
        if r.returncode != 0 or not _installed(pkg, version):
            raise Unavailable(f"npm install {spec} failed (no registry?): "
                              f"{_npm_reason(r.stdout + r.stderr) or f'exit {r.returncode}'}")
    return pkg


def _npm_reason(text):
    """npm's error in a line: its code and its first message line."""
    code, msg = "", ""
    for line in text.splitlines():
        body = re.sub(r"^npm (?:error|ERR!) ?", "", line)
        if body == line or not body.strip():
            continue
        m = re.match(r"code (\S+)$", body)
        if m:
            code = code or m.group(1)
        elif not msg and not re.match(r"\s|(syscall|errno) |[{}]", body):
            msg = body.strip()
    return ": ".join(x for x in (code, msg) if x) or text.strip()[-300:]


def _installed(pkg, version):
    try:
        with open(os.path.join(pkg, "package.json")) as f:
            v = json.load(f).get("version", "")
    except (OSError, ValueError):
        return False
    return not version or v.split(".")[0] == version.split(".")[0]


def browser_build(pkg):
    """The file of package folder PKG that a <script> tag loads: package.json's
    unpkg/jsdelivr/browser field when it names a .js file, else dist/NAME.min.js."""
    with open(os.path.join(pkg, "package.json")) as f:
        meta = json.load(f)
    for key in ("unpkg", "jsdelivr", "browser"):
        v = meta.get(key)
        if isinstance(v, str) and v.endswith(".js") and not v.endswith(".mjs"):
            path = os.path.normpath(os.path.join(pkg, v))
            if os.path.isfile(path):
                return path
    path = os.path.join(pkg, "dist", meta.get("name", "").split("/")[-1] + ".min.js")
    if not os.path.isfile(path):
        raise Unavailable(f"{pkg}: no browser build (no unpkg/jsdelivr field, no {path})")
    return path


def mermaid_js(build=None):
    """npm's mermaid (MERMAID_SPEC) browser build, installed when needed; Unavailable."""
    return browser_build(npm_package(MERMAID_SPEC, build))


# --- command line -------------------------------------------------------------

def main(argv):
    if len(argv) < 3 or argv[1] not in ("dom", "shot", "stats", "mermaid"):
        print(__doc__.split("Also a command line:")[1], file=sys.stderr)
        return 2
    try:
        if argv[1] == "stats":
            with open(argv[2], "rb") as f:
                s = png_decode(f.read()).stats()
            s.pop("counts")
            print(json.dumps(s))
            return 0
        if argv[1] == "mermaid":
            print(mermaid_js(argv[2]))
            return 0
        tmp = tempfile.TemporaryDirectory(prefix="gpuci-browser.")
        b = Browser.start(tmp.name)
        if argv[1] == "dom":
            print(b.load(argv[2]).dom)
            return 0
        size = tuple(int(x) for x in (argv[4] if len(argv) > 4 else "1400x900").split("x"))
        page = b.load(argv[2], screenshot=size)
        shutil.copy(os.path.join(b.tmp, f"load-{b.loads}", "shot.png"), argv[3])
        s = page.image.stats()
        s.pop("counts")
        print(json.dumps(s))
        print(f"page requests: {page.page_requests()}")
        return 0
    except Unavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        return SKIP


if __name__ == "__main__":
    sys.exit(main(sys.argv))
