"""Everything bandbridge takes from a STAC source passes here, under one policy (issue 85): the
JSON, an Item's or a catalog's URL, a STAC API's requests, and every href that reaches GDAL.

Hrefs (:func:`resolve`, :func:`gdal_href`). An asset's or a link's href is taken only as

- a relative reference, resolved against the location of the document that names it: beside a
  local file, a local path; under a URL, a URL on that URL's own scheme, host and port (a
  reference naming another host, ``//host/…``, is refused). A STAC API's Item is a document at the
  API's URL (at its self link only where that is on the API's host);
- an absolute local path, or ``file:///path`` (the same path), in a document read from disk. Read
  from a URL, a document names no local file: its ``/path`` is a path on its own host, as a browser
  reads it;
- ``http://`` or ``https://`` (GDAL's ``/vsicurl/``, the URL rebuilt here from its parsed parts and
  quoted, so nothing in it becomes an option of GDAL's), or ``s3://bucket/key`` (``/vsis3/``). A
  document read from a URL names a loopback, private, link-local or other non-public address
  (``127.0.0.1``, ``localhost``, ``10.…``, ``169.254.169.254``; a name is looked up) only on its own
  scheme, host and port: a remote Item never makes bandbridge ask this machine's or its network's
  services. A local document may (a server of your own).

Anything else is refused in one line naming the document, the asset and the href: a ``/vsi…``
path (GDAL's virtual file systems take options, ``/vsicurl?header_file=FILE&url=…``, that read a
local file and send it to a host of the Item's choosing), a GDAL connection string (``HDF5:``,
``GTIFF_DIR:``, ``vrt://``: any other scheme), control characters.

Fetches (:func:`fetch`, :func:`api_io`). An http(s) URL is read within the host the user named:
a redirect is followed only to the same scheme, host and port (elsewhere: one line saying where it
went); the whole exchange, from the connection to the last byte, ends by :data:`FETCH_SECONDS`
(a server trickling a byte a read trips no per-read timeout) and at :data:`FETCH_BYTES`. JSON
(:func:`load_json`) is refused past :data:`JSON_DEPTH` levels, counted by a linear scan before
any parser recurses.

Assets (:func:`on_host`, :func:`check_format`). GDAL (libcurl) follows any redirect: before GDAL
opens an asset's URL, one ranged GET of ours follows its redirects within its host (elsewhere: one
line saying where it went, and GDAL never asks) and GDAL is handed the URL it ended at. An asset over
the network is read only as a format that names no other file (GeoTIFF, JPEG 2000), checked on its
first open, before any pixel is read: a VRT served as ``B05.tif`` names its own sources, a
``/vsicurl?header_file=LOCALFILE`` among them; a local asset that is a VRT is held to the rules of
every VRT a run opens (``data/reads.check_open``: no ``/vsi…?`` options, no connection string, at any
depth). What a host answers GDAL's later requests (its byte ranges) differently from ours is GDAL's.
"""

from __future__ import annotations

import functools
import json
import os
import re
from contextlib import suppress
from urllib.parse import quote, unquote, urljoin, urlsplit

from bandbridge.data.reads import NETWORK_FORMATS, check_open
from bandbridge.errors import BandbridgeError
from bandbridge.policy import FETCH_BYTES, FETCH_SECONDS, JSON_DEPTH

ACCEPTED = "bandbridge reads relative, absolute local (or file:///), http(s):// and s3:// hrefs"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-_]*):")  # RFC 3986's, and GDAL's GTIFF_DIR: HDF4_SDS:
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(:\d{1,5})?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class OffHost(BandbridgeError):
    """A request that would leave the host named (a redirect elsewhere): refused, never followed."""


def _refuse(where: str, why: str):
    raise BandbridgeError(f"{where}: {why}; {ACCEPTED}")


@functools.lru_cache(maxsize=256)
def internal(host: str) -> bool:
    """Whether ``host`` (an IP literal or a name, looked up) is or reaches a non-public address:
    loopback, private, link-local, unspecified, reserved. A name that does not resolve is left to
    the request, which fails on it."""
    import ipaddress
    import socket
    h = host.strip("[]").lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        addrs = [h] if _is_ip(h) else {a[4][0] for a in socket.getaddrinfo(h, None)}
    except (OSError, UnicodeError):
        return False
    return any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addrs)


def _is_ip(h: str) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(h)
        return True
    except ValueError:
        return False


def _is_url(s: str | None) -> bool:
    return bool(s) and str(s).lower().startswith(("http://", "https://"))


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the default port filled in: what "the same host" compares."""
    p = urlsplit(url)
    scheme = p.scheme.lower()
    try:
        port = p.port
    except ValueError:
        port = None
    return scheme, (p.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def url_of(href: str, where: str) -> str:
    """An http(s) URL rebuilt from its parts: a host (and port) only, the path and query quoted
    where they need it, the fragment dropped (never sent)."""
    p = urlsplit(href)
    if not _NETLOC.fullmatch(p.netloc or ""):
        _refuse(where, f"'{p.netloc}' is no host[:port] of a URL")
    path = quote(p.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(p.query, safe="/?%:@!$&'()*+,;=-._~")
    return f"{p.scheme.lower()}://{p.netloc.lower()}{path}{'?' + query if query else ''}"


def resolve(href, base: str | None, where: str) -> str:
    """``href`` made absolute under the policy above: a local path, an http(s) URL or ``s3://bucket/key``.
    ``base``: the location of the document naming it (a local path or an http(s) URL; None: unknown)."""
    h = href if isinstance(href, str) else ""
    if not h.strip() or _CONTROL.search(h):
        _refuse(where, "an empty href or one with control characters")
    remote = _is_url(base)
    m = _SCHEME.match(h)
    scheme = m.group(1).lower() if m else ""
    if scheme in ("http", "https"):
        return _reachable(url_of(h, where), base, where)
    if scheme == "s3":
        bucket, _, key = h[5:].partition("/")
        if not _BUCKET.fullmatch(bucket) or not key:
            _refuse(where, "an s3:// href names s3://BUCKET/KEY")
        return f"s3://{bucket}/{key}"
    if scheme == "file":
        p = urlsplit(h)
        if remote or p.netloc not in ("", "localhost"):
            _refuse(where, "a file:// href names a file on this machine, and only a local document may")
        return _local(unquote(p.path), None, where)
    if scheme:
        _refuse(where, f"'{scheme}:' is no scheme bandbridge reads (a GDAL connection string is none either)")
    if h.lower().startswith("/vsi"):
        _refuse(where, "a GDAL virtual file path (/vsi…, whose options read local files and send them)")
    if remote:
        url = url_of(urljoin(base, quote(h, safe="/%:@!$&'()*+,;=-._~?")), where)
        if origin(url) != origin(base):
            _refuse(where, f"a relative href that leaves the Item's host ({url})")
        return url
    return _local(h, base, where)


def _reachable(url: str, base: str | None, where: str) -> str:
    """``url`` as a document at ``base`` names it: from a remote document, never a non-public address
    (:func:`internal`) off the document's own scheme, host and port."""
    if _is_url(base) and origin(url) != origin(base) and internal(origin(url)[1]):
        _refuse(where, f"a remote document's href to a loopback or private address ({origin(url)[1]}), off its own "
                       "host; only a local document may name one")
    return url


def _local(path: str, base: str | None, where: str) -> str:
    if not os.path.isabs(path):
        if base is None:
            _refuse(where, "a relative href in a document whose location is unknown")
        path = os.path.join(os.path.dirname(base), path)
    path = os.path.normpath(path)
    if path.lower().startswith("/vsi"):  # ../../vsicurl?… climbs to GDAL's root
        _refuse(where, "a path that resolves to a GDAL virtual file path (/vsi…)")
    return path


def for_gdal(resolved: str) -> str:
    """What GDAL opens of a :func:`resolve`'d href: ``/vsicurl/URL``, ``/vsis3/BUCKET/KEY`` or the path."""
    if _is_url(resolved):
        return "/vsicurl/" + resolved
    if resolved.startswith("s3://"):
        return "/vsis3/" + resolved[5:]
    return resolved


FORMATS = NETWORK_FORMATS  # GDAL's drivers of formats that name no other file
_ENDED: dict[str, str] = {}  # on_host's answers this run: the /vsicurl/ path named → the one handed GDAL


def forget() -> None:
    """Forget :func:`on_host`'s answers (a command's start: a host can change its redirects)."""
    _ENDED.clear()


def on_host(gdal: str, where: str) -> str:
    """What GDAL opens of a :func:`for_gdal` path: a ``/vsicurl/`` URL asked once by us (a ranged GET,
    its body unread) with its redirects followed only within its host, and the URL it ended at handed
    GDAL instead (libcurl would follow any); a redirect elsewhere refused in one line naming ``where``
    and where it went. An answer that is no redirect (an error, no answer) is left to GDAL, which says
    so. Any other path as it is."""
    if not gdal.startswith("/vsicurl/"):
        return gdal
    if gdal not in _ENDED:
        url = gdal[len("/vsicurl/"):]
        try:
            final, _ = fetch(url, where, "the asset", headers={"Range": "bytes=0-0"}, method="PROBE")
        except OffHost:
            raise
        except BandbridgeError:
            final = url
        _ENDED[gdal] = "/vsicurl/" + url_of(final, where) if origin(final) == origin(url) else gdal
    return _ENDED[gdal]


def check_format(dataset, where: str) -> None:
    """Refuse an asset GDAL opened that it must not read: over the network (``/vsi…``), one it reads
    as another format than :data:`FORMATS`, or one whose URL redirects off its host (:func:`on_host`;
    where the caller did not ask first); a local one, a VRT naming what no VRT may
    (``data/reads.check_open``). Called on an asset's first open, before any of its pixels (a VRT
    reads its sources only then)."""
    name = str(dataset.name)
    if not name.startswith("/vsi"):
        check_open(name)
        return
    if dataset.driver not in FORMATS:
        raise BandbridgeError(f"{where}: GDAL reads it as {dataset.driver}, a format that can name other files (a "
                              "local one would be read and sent on); an asset over the network is read as GeoTIFF or "
                              "JPEG 2000 only")
    on_host(name, where)


def shown(gdal: str) -> str:
    """The href a :func:`for_gdal` path stands for, as a message names it."""
    if gdal.startswith("/vsicurl/"):
        return gdal[len("/vsicurl/"):]
    return "s3://" + gdal[len("/vsis3/"):] if gdal.startswith("/vsis3/") else gdal


def gdal_href(href, base: str | None, where: str) -> str:
    """:func:`resolve` then :func:`for_gdal`: the one way an asset's href reaches GDAL."""
    return for_gdal(resolve(href, base, where))


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings left out: a
    scan of linear cost (``json`` and pystac recurse once a level; deep enough, past Python's stack)."""
    import numpy as np
    b = np.frombuffer(text.encode("utf-8", "replace"), np.uint8)  # no UTF-8 multibyte holds an ASCII byte
    quotes, slashes = np.flatnonzero(b == 34), np.flatnonzero(b == 92)
    if quotes.size and slashes.size:  # a quote after an odd run of backslashes is inside its string
        starts = np.ones(slashes.size, bool)
        starts[1:] = np.diff(slashes) != 1
        first = slashes[np.maximum.accumulate(np.where(starts, np.arange(slashes.size), 0))]
        j = np.searchsorted(slashes, quotes) - 1
        touch = (j >= 0) & (slashes[np.maximum(j, 0)] == quotes - 1)
        run = np.where(touch, quotes - first[np.maximum(j, 0)], 0)
        quotes = quotes[run % 2 == 0]
    brackets = np.flatnonzero((b == 91) | (b == 93) | (b == 123) | (b == 125))
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]  # an even count of quotes before: outside
    step = np.where((b[brackets] == 91) | (b[brackets] == 123), 1, -1)
    return int(np.cumsum(step).max(initial=0))


def load_json(text: str, where: str):
    """``json.loads(text)`` where ``text`` nests at most :data:`JSON_DEPTH` deep, else one line naming
    ``where``; invalid JSON raises ``ValueError`` as ``json.loads`` does, for the caller's words."""
    if json_depth(text) > JSON_DEPTH:
        raise BandbridgeError(f"{where}: JSON nested deeper than {JSON_DEPTH} levels, which no STAC document "
                              "is (an Item is under 10); give a STAC Item's, catalog's or API's JSON")
    return json.loads(text)


def fetch(url: str, where: str, what: str = "the Item", data: bytes | None = None, headers: dict | None = None,
          method: str | None = None) -> tuple[str, bytes]:
    """``(the URL it ended at, the body)`` of one request to ``url`` under the policy above, or one
    line naming ``where``."""
    import socket
    import threading
    answer: dict = {}
    socks: list = []

    def run():
        try:
            answer["ok"] = _exchange(url, where, data, headers, method, socks)
        except BaseException as e:  # noqa: BLE001 - carried to the caller's thread
            answer["error"] = e
    worker = threading.Thread(target=run, daemon=True, name="bandbridge-fetch")
    worker.start()
    worker.join(FETCH_SECONDS)
    if worker.is_alive():  # cut: the worker's socket is shut, so it ends soon after
        for s in list(socks):  # the plain socket's shutdown: wakes a blocked read, TLS too
            with suppress(OSError):
                socket.socket.shutdown(s, socket.SHUT_RDWR)
        raise BandbridgeError(f"{where}: no whole answer within {FETCH_SECONDS:g} s (the limit on the whole fetch); "
                              f"check the address and the network, or download {what} and give its file")
    e = answer.get("error")
    if isinstance(e, BandbridgeError):
        raise e
    if e is not None:
        import urllib.error
        why = (f"HTTP {e.code}: {e.reason}" if isinstance(e, urllib.error.HTTPError) else
               f"{type(e).__name__}{': ' + str(e).splitlines()[0][:160] if str(e) else ''}")
        raise BandbridgeError(f"{where}: cannot fetch it ({why}); check the address and the network, or download "
                              f"{what} and give its file") from None
    return answer["ok"]


def _exchange(url, where, data, headers, method, socks) -> tuple[str, bytes]:
    """The request itself (in :func:`fetch`'s worker): urllib's HTTP(S) and proxies only, redirects
    kept on ``url``'s host, every connection's socket handed to ``socks`` for the cut."""
    import http.client
    import urllib.request
    named = origin(url)

    def recorded(base):
        class Connection(base):
            def connect(self):
                super().connect()
                socks.append(self.sock)
        return Connection

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(recorded(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(recorded(http.client.HTTPSConnection), req, context=self._context)

    class Redirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, hdrs, newurl):
            if origin(newurl) != named:
                went = _CONTROL.sub("", newurl)[:200]
                raise OffHost(f"{where}: the server redirects it to {went}, another host than the one "
                                      "named; give that address yourself if you trust it")
            return super().redirect_request(req, fp, code, msg, hdrs, newurl)

    opener = urllib.request.OpenerDirector()
    for h in (urllib.request.ProxyHandler(), Http(), Https(), Redirect(), urllib.request.HTTPDefaultErrorHandler(),
              urllib.request.HTTPErrorProcessor()):
        opener.add_handler(h)
    req = urllib.request.Request(url, data=data, headers={"User-Agent": "bandbridge", **(headers or {})},
                                 method=method)
    if method == "PROBE":  # on_host's: where the answer ends, its body never read
        req.method = "GET"
        with opener.open(req, timeout=FETCH_SECONDS) as r:
            return r.geturl(), b""
    with opener.open(req, timeout=FETCH_SECONDS) as r:
        size = r.headers.get("Content-Length") or ""
        big = size.isdigit() and int(size) > FETCH_BYTES  # said before it is read
        body = b"" if big else r.read(FETCH_BYTES + 1)
        if big or len(body) > FETCH_BYTES:
            raise BandbridgeError(f"{where}: over {FETCH_BYTES // 2**20} MiB, no STAC document; give one Item's URL")
        return r.geturl(), body


def api_io(url: str, where: str):
    """pystac-client's ``StacApiIO`` for the API at ``url``, whose every request is :func:`fetch`'s and
    stays on ``url``'s host (its search, its pages' ``next`` links); a local path is never read."""
    from pystac.link import Link
    from pystac_client.stac_api_io import StacApiIO
    from requests import Request
    named = origin(url)

    class Io(StacApiIO):
        def read_text(self, source, *args, **kwargs):
            if not isinstance(source, Link) and not _is_url(str(source)):
                raise BandbridgeError(f"{where}: the API names {str(source)[:200]}, no http(s) URL; a STAC API's "
                                      "links stay on its host")
            return super().read_text(source, *args, **kwargs)

        def request(self, href, method=None, headers=None, parameters=None):
            method = (method or "GET").upper()
            body = {"json": parameters} if method in ("POST", "PUT", "PATCH") else {"params": parameters or {}}
            sent = self.session.prepare_request(Request(method=method, url=href, headers=headers, **body))
            if not _is_url(sent.url) or origin(sent.url) != named:
                raise BandbridgeError(f"{where}: the API sends its requests to {str(sent.url)[:200]}, another host "
                                      "than the one named; give that API's address yourself if you trust it")
            data = sent.body.encode() if isinstance(sent.body, str) else sent.body
            _, got = fetch(sent.url, where, "the search's Items", data, dict(sent.headers), method)
            return got.decode("utf-8", errors="replace")

        def json_loads(self, txt, *args, **kwargs):
            return load_json(txt, where)
    return Io()
