"""BIND zone files and data (Z1 lower the TTL, A2 restore it, D1/A2 back up namedb).

A TTL change is one edit per zone file: `$TTL` set, SOA serial bumped (only
when the TTL changed, so a second run is "unchanged"), the candidate checked
with `named-checkzone ZONE TMPFILE` before it replaces the file, and BIND
told once at the end. The zone name `named-checkzone` needs comes from the
file itself (SOA owner or $ORIGIN) or, for the usual `@ IN SOA` file without
$ORIGIN, from the `zone "NAME" { file "..."; }` of named.conf.
"""

from __future__ import annotations

import datetime
import posixpath
import re

from ..edit import EditError
from ..edit import zone as zone_edit
from ..commands import Script
from ..errors import RemoteError
from ..hostfiles import TEMP
from ..services import restart as restart_service
from ..services import unit

CHECKZONE = "named-checkzone"


# ---- pure helpers ----------------------------------------------------------


def retime(text: str, ttl: int, today: datetime.date) -> str:
    """$TTL -> ttl, and the SOA serial bumped only when that changed anything."""
    changed = zone_edit.set_ttl(text, ttl)
    if changed == text:
        return text
    return zone_edit.bump_serial(changed, today)


def _fqdn(name: str, origin: str | None) -> str | None:
    if name == "@":
        return origin
    if name.endswith("."):
        return name
    if origin is None:
        return None
    return f"{name}.{origin}" if origin != "." else f"{name}."


def _strip_comment(line: str) -> str:
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out)


def zone_name_in_file(text: str) -> str | None:
    """The zone a file describes, from its SOA owner and $ORIGIN; None when the file does not say.

    Returned without the trailing dot ("localhost", "0.0.127.in-addr.arpa").
    """
    origin: str | None = None
    owner: str | None = None
    for raw in text.split("\n"):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        words = line.split()
        if words[0].upper() == "$ORIGIN" and len(words) > 1:
            origin = _fqdn(words[1], origin)
            continue
        if words[0].startswith("$"):
            continue
        if not line[0].isspace():
            owner = words[0]
        if any(w.upper() == "SOA" for w in (words[1:] if not line[0].isspace() else words)):
            name = _fqdn(owner, origin) if owner else origin
            return name.rstrip(".") or "." if name else None
    return None


def _named_conf_clean(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return "\n".join(re.sub(r'(//|#)[^"\n]*$', "", line) for line in text.split("\n"))


def _block_end(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def zones_in_named_conf(text: str) -> dict[str, str]:
    """{zone file as written: zone name} from named.conf's zone statements, plus the directory."""
    text = _named_conf_clean(text)
    found: dict[str, str] = {}
    for match in re.finditer(r'\bzone\s+"([^"]+)"\s*(?:\w+\s*)?\{', text):
        body = text[match.end() - 1:_block_end(text, match.end() - 1)]
        file_match = re.search(r'\bfile\s+"([^"]+)"\s*;', body)
        if file_match:
            found[file_match.group(1)] = match.group(1).rstrip(".") or "."
    return found


def named_conf_directory(text: str) -> str | None:
    match = re.search(r'\bdirectory\s+"([^"]+)"\s*;', _named_conf_clean(text))
    return match.group(1) if match else None


def zone_name_from_named_conf(text: str, path: str) -> str | None:
    """The zone whose `file` is `path` (absolute, relative to `directory`, or the same basename once)."""
    zones = zones_in_named_conf(text)
    directory = named_conf_directory(text) or ""
    for written, name in zones.items():
        full = written if written.startswith("/") else posixpath.join(directory, written)
        if posixpath.normpath(full) == posixpath.normpath(path):
            return name
    same_base = [name for written, name in zones.items() if posixpath.basename(written) == posixpath.basename(path)]
    return same_base[0] if len(same_base) == 1 else None


def zone_name(text: str, path: str, named_conf: str | None) -> str:
    name = zone_name_in_file(text) or (zone_name_from_named_conf(named_conf, path) if named_conf else None)
    if not name:
        raise EditError(
            f"{path}: cannot tell which zone it holds (SOA owner is @, no $ORIGIN, no zone in named.conf names it); "
            f"add `$ORIGIN zone.name.` at its top"
        )
    return name


def parse_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise RemoteError(f"`date +%F` answered {text.strip()!r}, not a date; check the host's date command") from None


def dated_name(name: str, day: datetime.date) -> str:
    """namedb -> namedb-YYYYMMDD (the seed's namedb-20091023)."""
    return f"{name}-{day:%Y%m%d}"


# ---- on a host -------------------------------------------------------------


def host_today(host) -> datetime.date:
    """The host's own date: the date its admins will read in serials and backup names."""
    return parse_date(host.probe(["date", "+%F"]).stdout)


def read_named_conf(step, host) -> str | None:
    bind = step.settings.bind
    path = posixpath.join(bind.etc_dir, bind.named_conf)
    return host.read_text(path) if host.exists(path) else None


def require_checkzone(host) -> None:
    if not host.check(Script('command -v "$1" >/dev/null', CHECKZONE)):
        raise RemoteError(f"{host.alias}: {CHECKZONE} is not installed, so a zone file cannot be checked before it is installed; install bind9-utils")


def checkzone(zone: str) -> list[str]:
    return [CHECKZONE, "-q", zone, TEMP]


def set_ttl(step, host, ttl: int) -> list:
    """$TTL -> ttl in every ttl.zone_files under ttl.zone_dir, serials bumped, each checked by named-checkzone."""
    cfg = step.settings.ttl
    today = host_today(host)
    named_conf = read_named_conf(step, host)
    require_checkzone(host)
    results = []
    for name in cfg.zone_files:
        path = posixpath.join(cfg.zone_dir, name)
        text = host.read_text(path)
        zone = zone_name(text, path, named_conf)
        was = zone_edit.get_ttl(text)
        host.say(f"{path}: zone {zone}, $TTL {was or '(none)'} -> {ttl}")
        results.append(host.edit(path, lambda t: retime(t, ttl, today), validate=checkzone(zone)))
    return results


def reload_bind(step, host, *, restart: bool = False) -> bool:
    """Make a running BIND read its zones again: `rndc reload` when rndc answers, else the service's restart.

    A BIND that is not running is left alone (it reads the files when it starts).
    """
    service = step.settings.bind.service
    u = unit(host, service)
    if not u.running:
        host.say(f"{u.label()}: not running; it reads the new zone files when it starts")
        return False
    if not restart and host.check(["rndc", "status"]):
        host.change(["rndc", "reload"], what="rndc reload")
    else:
        restart_service(host, service)
    if not host.dry and not unit(host, service, fresh=True).running:
        raise RemoteError(f"{host.alias}: {u.label()} is not running after the reload; see its log (named-checkconf, journalctl -u)")
    if not host.dry:
        host.say(f"{u.label()}: reloaded the zones")
    return True


def _seconds(value: str | None) -> int:
    """A TTL as named reads it ("3600", "1h", "1w2d"); 0 when absent."""
    if not value:
        return 0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if value.isdigit():
        return int(value)
    return sum(int(n) * units[u.lower()] for n, u in re.findall(r"(\d+)([smhdwSMHDW])", value))


def apply_ttl(step, host, ttl: int, *, restart: bool = False) -> bool:
    cfg = step.settings.ttl
    replaced = max((_seconds(zone_edit.get_ttl(host.read_text(posixpath.join(cfg.zone_dir, n)))) for n in cfg.zone_files), default=0)
    results = set_ttl(step, host, ttl)
    changed = any(r.changed for r in results)
    if changed and not host.dry and replaced > ttl:
        step.note(f"TTL {replaced} s lowered to {ttl} s: caches may keep the old records for {replaced} s", ttl_replaced=replaced, ttl_now=ttl)
    if changed:
        reload_bind(step, host, restart=restart)
    else:
        step.say(f"{step.info.ids[0]}: every zone file already has $TTL {ttl}: unchanged")
    return changed


def backup_data(step, host) -> str:
    """cp -a namedb namedb-YYYYMMDD under bind.etc_dir (host's date); already there today: unchanged.

    The copy goes to a temporary name first and is renamed when complete, so
    a half-made copy never looks like the day's backup.
    """
    bind = step.settings.bind
    etc, data = bind.etc_dir, bind.data_dir
    target = dated_name(data, host_today(host))
    full = posixpath.join(etc, target)
    if host.exists(full):
        host.say(f"{full}: already there (today's backup), unchanged")
        host.record("unchanged", path=full)
        return full
    if not host.exists(posixpath.join(etc, data)):
        raise RemoteError(f"{host.alias}: {posixpath.join(etc, data)} does not exist; check bind.etc_dir and bind.data_dir in hosts.toml")
    tmp = f".{target}.serverswap-tmp"
    host.change(Script(COPY_THEN_RENAME, etc, data, tmp, target), what=f"cp -a {posixpath.join(etc, data)} {full}")
    return full


COPY_THEN_RENAME = 'cd "$1" && rm -rf -- "$3" && cp -a -- "$2" "$3" && mv -- "$3" "$4"'
