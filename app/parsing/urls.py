"""URL identity for duplicate detection: one canonical string per article address.

`normalize_url` is not a URL to fetch: it folds together the addresses under which
publishers, social networks and AMP caches serve one article. The canonical form is
`https://host[:port]/path[?query]` where
- the scheme is https for http and https alike (anything else is not an article: None);
- the host is lowercased, IDNA-encoded (punycode), without a trailing dot, a leading
  `www.`, `m.` or `amp.` (while two labels remain), user info, or port 80 or 443;
- the path has its percent-escapes normalized (unreserved characters decoded, other
  escapes in upper case, anything else outside RFC 3986 encoded as UTF-8), `.` and `..`
  segments resolved, empty segments (double and trailing slashes) removed, `;jsessionid`
  dropped, and AMP variants folded: `/amp` at either end, `.amp` and `.amp.html` -> `.html`;
- the query loses empty pieces, well-known tracking parameters (`TRACKING`, the prefixes in
  `TRACKING_PREFIXES`) and AMP markers (`amp`, `amp=1`, `amp=true`, `outputType=amp`),
  and is sorted;
- the fragment is dropped; AMP cache and Google AMP viewer addresses become the
  publisher's address.
courlan (from trafilatura) keeps `www.`, the scheme and Unicode hosts, and strips any
parameter whose name merely contains "source", "session" or "ref": not used here.
"""

import ipaddress
import re
from urllib.parse import quote, unquote, urlsplit

import idna
from tld import get_fld

# Exact names, compared in lower case, one vendor or kind a line: ad clicks (Google, Meta,
# Microsoft, X, TikTok, LinkedIn, Yandex), e-mail and marketing tools (Mailchimp, HubSpot,
# Marketo, Vero, Olytics), analytics (Google, Alibaba, AT Internet, comScore, Webtrends,
# Adobe), share and referral markers of big news sites, Yahoo consent and AMP viewer noise.
_TRACKING_NAMES = """
    gclid gclsrc dclid gbraid wbraid fbclid fb_action_ids fb_action_types fb_ref fb_source
    msclkid ocid cvid twclid __twitter_impression ttclid li_fat_id yclid ysclid _openstat
    igshid igsh mc_cid mc_eid _hsenc _hsmi __hstc __hssc __hsfp hsctatracking mkt_tok
    vero_id vero_conv oly_anon_id oly_enc_id rb_clickid
    _ga _gl spm scm xtor at_medium at_campaign ns_mchannel ns_source ns_campaign ns_linkname
    ns_fee wt.mc_id wt_mc_id s_cid
    ref ref_src ref_url cmpid cmp icid intcid mbid smid smtyp sr_share
    guccounter guce_referrer guce_referrer_sig usqp amp_js_v amp_gsa amp_r
"""
TRACKING = frozenset(_TRACKING_NAMES.split())
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_PREFIXES = frozenset({"www", "m", "amp"})
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_PATH_SAFE = "/!$&'()*+,;=:@"
_KEY_SAFE = "!$'()*+,;:@/?"
_VALUE_SAFE = _KEY_SAFE + "="
_JSESSIONID = re.compile(r";jsessionid=[^/]*", re.IGNORECASE)
_ASCII_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_BARE_HOST = re.compile(r"[^\s/?#@:]+(:\d+)?([/?#].*)?", re.DOTALL)
_GOOGLE = re.compile(r"google(\.[a-z]{2,3}){1,2}")


def normalize_url(url: str) -> str | None:
    """The canonical form under which two URLs name the same article; None if not http(s)."""
    return _normalize(url, depth=0)


def url_domain(url: str | None) -> str | None:
    """The registrable domain of a URL or bare host name (bbc.co.uk for news.bbc.co.uk).

    The public suffix list that `tld` ships decides (private suffixes count: one blog on
    blogspot.com or github.io is one domain); a host under no known suffix (an IP address,
    localhost, an intranet name) is returned whole, without `www.`. None for no URL.
    """
    if not url:
        return None
    url = url.strip()
    if _BARE_HOST.fullmatch(url):
        url = f"https://{url}"
    normalized = normalize_url(url)
    if normalized is None:
        return None
    host = urlsplit(normalized).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return get_fld(host, fix_protocol=True, fail_silently=True) or host
    return host


def _normalize(url: str, depth: int) -> str | None:
    try:
        parts = urlsplit(re.sub(r"[\t\r\n]", "", url.strip()))
        port = parts.port
        host = _host(parts.hostname or "")
    except ValueError:  # bad IPv6 literal, bad port, host IDNA refuses (UnicodeError too)
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    segments = _segments(parts.path)
    inner = _amp_cache_target(host, segments, parts.query)
    if inner is not None:
        return _normalize(inner, depth + 1) if depth < 3 else None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = "/" + "/".join(_fold_amp(segments))
    query = _query(parts.query)
    return f"https://{netloc}{path}{'?' if query else ''}{query}"


def _host(host: str) -> str:
    if not host:
        return ""
    if ":" in host:  # urlsplit took the brackets off an IPv6 literal
        return f"[{ipaddress.IPv6Address(host).compressed}]"
    host = unquote(host, errors="strict").rstrip(".").lower()
    if not _ASCII_HOST.fullmatch(host):  # Unicode, or characters no host name has
        host = idna.encode(host, uts46=True).decode("ascii")
    labels = host.split(".")
    if len(host) > 253 or any(len(label) > 63 for label in labels):  # what idna also refuses
        raise ValueError("longer than a DNS name can be")
    while len(labels) > 2 and labels[0] in _PREFIXES:
        del labels[0]
    if not all(labels):
        raise ValueError(f"empty label in {host!r}")
    return ".".join(labels)


def _segments(path: str) -> list[str]:
    """Path segments with escapes normalized, `.`, `..` and empty ones resolved."""
    segments: list[str] = []
    for segment in _JSESSIONID.sub("", _escapes(path, _PATH_SAFE)).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    return segments


def _amp_cache_target(host: str, segments: list[str], query: str) -> str | None:
    """The publisher's URL inside an AMP cache or Google AMP viewer address, else None."""
    cache = host.endswith(".cdn.ampproject.org") and segments[:1] in (["c"], ["v"])
    viewer = _GOOGLE.fullmatch(host) is not None and segments[:1] == ["amp"]
    if not (cache or viewer):
        return None
    secure = segments[1:2] == ["s"]  # /c/s/host/...: the publisher serves https
    rest = segments[2:] if secure else segments[1:]
    if not rest:
        return None
    return f"{'https' if secure else 'http'}://{'/'.join(rest)}{'?' if query else ''}{query}"


def _fold_amp(segments: list[str]) -> list[str]:
    """/amp/story, /story/amp -> /story; story.amp, story.amp.html -> story.html. Indices
    rather than pop(0) and one cut per suffix run: linear however many "amp" pile up."""
    first, last = 0, len(segments)
    while first < last and "amp" in (segments[first], segments[last - 1]):
        if segments[last - 1] == "amp":
            last -= 1
        else:
            first += 1
    folded = segments[first:last]
    name = folded[-1] if folded else ""
    if name.endswith((".amp", ".amp.html")) and name[0] != ".":
        stem = name.removesuffix(".html")
        end = len(stem)
        while stem.endswith(".amp", 0, end):
            end -= 4
        folded[-1] = stem[:end] + ".html"
    return folded


def _query(query: str) -> str:
    pairs = []
    for piece in query.split("&"):
        key, eq, value = piece.partition("=")
        key, value = _escapes(key, _KEY_SAFE), _escapes(value, _VALUE_SAFE)
        name = unquote(key).lower()
        if not key or _is_tracking(name) or _is_amp_marker(name, value.lower()):
            continue
        pairs.append((key, eq + value))
    return "&".join(key + rest for key, rest in sorted(pairs))


def _is_tracking(name: str) -> bool:
    return name in TRACKING or name.startswith(TRACKING_PREFIXES)


def _is_amp_marker(name: str, value: str) -> bool:
    return (name == "amp" and value in ("", "1", "true")) or (
        name == "outputtype" and value == "amp"
    )


def _escapes(part: str, safe: str) -> str:
    """Unreserved characters decoded, other escapes upper-cased, the rest encoded (UTF-8)."""
    out, pos = [], 0
    for match in _ESCAPE.finditer(part):
        out.append(quote(part[pos : match.start()], safe=safe, errors="surrogatepass"))
        char = chr(int(match[1], 16))
        out.append(char if char in _UNRESERVED else f"%{match[1].upper()}")
        pos = match.end()
    out.append(quote(part[pos:], safe=safe, errors="surrogatepass"))
    return "".join(out)
