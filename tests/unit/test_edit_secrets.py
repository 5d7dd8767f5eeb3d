"""The secret filter on what the tools really print: pwck, grpck, chpasswd, rsync, ssh-keygen, puttygen.

Hashes are made by the real chpasswd -R in a scratch root; each test first
checks the raw output does hold the secret (so the test can fail), then
that the filtered output does not, and that everything else is unchanged.
"""

import json
import re
import shutil
import subprocess
import threading

import accounts_grammar as ag
import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit import secrets
from fabfile.edit.secrets import KEY_MARK, MARK, Redactor

METHODS = {"alice": "YESCRYPT", "bob": "SHA512", "carol": "SHA256", "dave": "MD5", "erin": "DES"}


def _hash_of(shadow: str, name: str) -> str:
    return next(line.split(":")[1] for line in shadow.splitlines() if line.startswith(name + ":"))


@pytest.fixture(scope="module")
def hashed():
    """A scratch root whose users got real hashes from chpasswd -R (one per method), plus those hashes."""
    if not shutil.which("chpasswd"):
        pytest.skip("chpasswd (passwd package) is not installed here")
    names = list(METHODS)
    people = "".join(f"{n}:x:{1001 + i}:{1001 + i}::/home/{n}:/bin/sh\n" for i, n in enumerate(names))
    root = ag.ScratchRoot().write(
        "root:x:0:0:root:/root:/bin/sh\n" + people,
        "root:*:19000:0:99999:7:::\n" + "".join(f"{n}:!:19000:0:99999:7:::\n" for n in names),
        "root:x:0:\nstaff:x:50:alice\n" + "".join(f"{n}:x:{1001 + i}:\n" for i, n in enumerate(names)),
        "root:*::\nstaff:!::alice\n" + "".join(f"{n}:!::\n" for n in names))
    for name, method in METHODS.items():
        result = subprocess.run(["chpasswd", "-R", str(root.path), "-c", method], input=f"{name}:Pw-{name}-0\n",
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    subprocess.run(["chgpasswd", "-R", str(root.path), "-c", "SHA512"], input="staff:Group-pw\n", check=True, text=True)
    hashes = {name: _hash_of(root.read()[1], name) for name in names}
    hashes["staff"] = _hash_of(root.read()[3], "staff")
    yield root, hashes
    root.close()


def test_the_hashes_are_real(hashed):
    _, hashes = hashed
    assert hashes["alice"].startswith("$y$j9T$") and hashes["bob"].startswith("$6$") and hashes["carol"].startswith("$5$")
    assert hashes["dave"].startswith("$1$") and re.fullmatch(r"[./0-9A-Za-z]{13}", hashes["erin"])


def test_pwck_and_grpck_quoting_stray_lines(hashed):
    """Issue 11: one stray shadow line made C3 print pwck's complaint with the whole line and its hash."""
    root, hashes = hashed
    passwd, shadow, group, gshadow = root.read()
    stray = [line.replace("alice:", "ghost:", 1) for line in shadow.splitlines() if line.startswith("alice:")][0]
    broken = "broken:" + hashes["erin"]  # a stray two-field line with a DES hash
    root.write(passwd, shadow + stray + "\n" + broken + "\n", group,
               gshadow + f"ghosts:{hashes['staff']}::\n")
    raw = root.check()
    assert hashes["alice"] in raw and hashes["erin"] in raw and hashes["staff"] in raw
    shown = secrets.redact(raw)
    assert not [h for h in hashes.values() if h in shown]
    assert f"delete line 'ghost:{MARK}:" in shown and f"delete line 'broken:{MARK}'? No" in shown
    assert f"delete line 'ghosts:{MARK}::'? No" in shown
    kept = [line for line in raw.splitlines() if "delete line" not in line]
    assert kept == [line for line in shown.splitlines() if "delete line" not in line]
    root.write(passwd, shadow, group, gshadow)


def test_a_shadow_file_and_its_diff(hashed):
    root, hashes = hashed
    passwd, shadow, group, gshadow = root.read()
    for text in (shadow, gshadow, "\n".join("-" + line for line in shadow.splitlines())):
        shown = secrets.redact(text)
        assert not [h for h in hashes.values() if h in shown]
    assert secrets.redact(shadow).splitlines()[1] == f"alice:{MARK}:" + shadow.splitlines()[1].split(":", 2)[2]
    assert secrets.redact(passwd) == passwd and secrets.redact(group) == group
    assert "root:*:19000:0:99999:7:::" in secrets.redact(shadow)


def test_chpasswd_errors(hashed):
    """chpasswd's complaints about bad input: nothing secret in them, so nothing changes; a registered
    password would still be hidden."""
    root, _ = hashed
    bad = "nosuch:Plain-Secret-1\nalice\n\nbob:\n:x\n"
    result = subprocess.run(["chpasswd", "-R", str(root.path)], input=bad, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "line 2" in output
    assert secrets.redact(output) == output
    redactor = Redactor()
    redactor.add("Plain-Secret-1")
    assert "Plain-Secret-1" not in redactor.redact(output + bad)


def test_rsync_listing_files_named_like_hashes(hashed, tmp_path):
    _, hashes = hashed
    source = tmp_path / "src"
    source.mkdir()
    names = [hashes["bob"].replace("/", "_"), f"ghost:{hashes['alice'].replace('/', '_')}:19000:0:99999:7:::", "notes.txt"]
    for name in names:
        (source / name).write_text("x")
    result = subprocess.run(["rsync", "-av", "--stats", f"{source}/", f"{tmp_path}/dst/"], capture_output=True, text=True)
    assert result.returncode == 0 and names[0] in result.stdout and names[1] in result.stdout
    shown = secrets.redact(result.stdout)
    assert names[0] not in shown and names[1] not in shown and hashes["alice"][7:20] not in shown
    assert "notes.txt" in shown and "$6$" + MARK in shown
    stats = [line for line in result.stdout.splitlines() if line.startswith(("Number of", "Total", "sent", "total"))]
    assert stats and all(line in shown.splitlines() for line in stats)


KEYGEN = [("ed25519", []), ("rsa", ["-b", "2048", "-m", "PEM"]), ("ecdsa", ["-m", "PEM"]),
          ("rsa", ["-b", "2048", "-m", "PKCS8"]), ("ed25519", ["-N", "a passphrase"]),
          ("ecdsa", ["-m", "PKCS8", "-N", "a passphrase"])]


@pytest.mark.parametrize("kind, options", KEYGEN)
def test_ssh_keygen_private_keys(tmp_path, kind, options):
    key = tmp_path / "key"
    argv = ["ssh-keygen", "-q", "-t", kind, "-f", str(key), *options]
    subprocess.run(argv if "-N" in options else argv + ["-N", ""], check=True)
    text = key.read_text()
    body = [line for line in text.splitlines() if not line.startswith("-----")]
    assert body
    output = f"cat {key}\n{text}done\n"
    shown = secrets.redact(output)
    assert not [line for line in body if line in shown]
    assert shown.splitlines()[1] == text.splitlines()[0] and KEY_MARK in shown
    assert shown.endswith(text.splitlines()[-1] + "\ndone\n")
    stream = Redactor().stream()
    fed = "".join(stream.feed(line) for line in output.splitlines(keepends=True))
    assert not [line for line in body if line in fed] and fed.endswith("done\n")
    truncated = secrets.redact(output[: len(output) // 2])
    assert not [line for line in body if len(line) > 20 and line in truncated]


def test_putty_private_key(tmp_path):
    from tests.debfiles import program, unpacked

    tree = unpacked("putty-tools")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    subprocess.run([*program(tree, "usr/bin/puttygen"), str(tmp_path / "key"), "-O", "private", "-o", str(tmp_path / "key.ppk")],
                   check=True, capture_output=True)
    text = (tmp_path / "key.ppk").read_text()
    lines = text.splitlines()
    count = int(next(line for line in lines if line.startswith("Private-Lines:")).split(":")[1])
    start = lines.index(next(line for line in lines if line.startswith("Private-Lines:"))) + 1
    private = lines[start:start + count] + [next(line for line in lines if line.startswith("Private-MAC:")).split(": ")[1]]
    stream = Redactor().stream()
    for shown in (secrets.redact(text), "".join(stream.feed(line + "\n") for line in lines)):
        assert not [p for p in private if p in shown]
        assert "Public-Lines:" in shown and lines[0] in shown


# ---- properties ------------------------------------------------------------------

_filler = st.text(st.sampled_from(list("abc XYZ019./-_=,;()[]{}<>\"'\n\t:$#!")), max_size=40)
_innocent = st.lists(st.sampled_from([
    "sending incremental file list", "Number of files: 3 (reg: 2, dir: 1)",
    "user 'lp': directory '/var/spool/lpd' does not exist",
    "alice:x:1001:1001:Alice Smith,,,:/home/alice:/bin/bash", "root:*:19000:0:99999:7:::", "daemon:!:19000::::::",
    "staff:x:50:alice,bob", "staff:!::alice", "fe80::1%eth0", "12:34:56", "$HOME", "$1", "$1$2", "cost: $5", "price $6 each",
    "[new] /etc/shadow: ~ alice (password changed)", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQx comment", "a:b:c:d",
    "-----BEGIN PUBLIC KEY-----", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "-----END PUBLIC KEY-----",
    "pwck: no changes", "rsync error: some files/attrs were not transferred (code 23)", "", "x" * 100,
]), max_size=12)
_base64 = st.text(st.sampled_from(ag.HASH_ALPHABET + "+/"), min_size=16, max_size=70)


@settings(max_examples=300, deadline=None)
@given(_innocent, st.sampled_from([" ", "\n", "\t"]))
def test_property_text_without_secrets_is_unchanged(pieces, sep):
    text = sep.join(pieces)
    assert Redactor().redact(text) == text


@settings(max_examples=300, deadline=None)
@given(_filler, ag.crypt_hashes().filter(lambda h: h.startswith("$")), _filler)
def test_property_no_crypt_hash_survives_anywhere(before, hash_, after):
    assert hash_ not in Redactor().redact(before + hash_ + after)


@settings(max_examples=300, deadline=None)
@given(_filler, st.sampled_from(["alice", "nobody", "_apt", "web-data"]), ag.crypt_hashes(),
       st.sampled_from(["{}:{}:19000:0:99999:7:::", "{}:{}:1001:1001:A B:/home/a:/bin/sh", "{}:{}::alice,bob",
                        "{}:!{}:19000:0:99999:7:::", "delete line '{}:{}'? No"]),
       st.sampled_from([" ", "\n", "'", '"']), _filler)
def test_property_account_lines_lose_their_password_field(before, name, hash_, form, sep, after):
    """Any hash, DES included, in a shadow, passwd or gshadow record (or pwck's quote of one)."""
    record = form.format(name, hash_)
    shown = Redactor().redact(before + "\n" + record + sep + after)
    assert shown.count(hash_) <= before.count(hash_) + after.count(hash_)  # (the filler may hold it too)
    assert form.format(name, MARK) in shown


@settings(max_examples=200, deadline=None)
@given(_filler, st.sampled_from(["OPENSSH PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY",
                                 "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"]),
       st.lists(_base64, min_size=1, max_size=8), st.booleans(), _filler)
def test_property_no_private_key_line_survives(before, kind, body, ended, after):
    block = f"-----BEGIN {kind}-----\n" + "\n".join(body) + "\n" + (f"-----END {kind}-----\n" if ended else "")
    text = before + "\n" + block + (after if ended else "")
    whole = Redactor().redact(text)
    stream = Redactor().stream()
    fed = "".join(stream.feed(line) for line in text.splitlines(keepends=True))
    for shown in (whole, fed):
        assert not [line for line in body if shown.count(line) > before.count(line) + after.count(line)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12).filter(str.strip), min_size=1, max_size=3), _filler, _filler,
       st.integers(1, 3))
def test_property_registered_secrets_never_survive(registered, before, after, times):
    """Any values (even ones that overlap each other or the marker), anywhere, also JSON-escaped."""
    redactor = Redactor()
    for secret in registered:
        redactor.add(secret)
    text = before + "".join(secret + after for secret in registered) * times
    shown = redactor.redact(text)
    assert not [s for s in registered if s in shown]
    encoded = redactor.redact(json.dumps({"v": text}))
    assert not [s for s in registered if json.dumps(s)[1:-1] in encoded]


def test_registering_is_thread_safe():
    """Writers add secrets while readers redact: no error, no half-made state; afterwards every secret goes."""
    redactor, errors = Redactor(), []
    wanted = [f"apop-secret-{i:04d}" for i in range(400)]

    def writer(chunk):
        for secret in chunk:
            redactor.add(secret)

    def reader():
        try:
            for i in range(2000):
                redactor.redact(f"line {i}: {wanted[i % len(wanted)]} and $6$salt$hash")
        except Exception as exc:  # any exception is the failure
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(wanted[i::4],)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not [s for s in wanted if s in redactor.redact(" ".join(wanted))]


def test_module_default_and_blank_secrets():
    secrets.add("module-level-secret")
    secrets.add("")
    secrets.add("   ")
    assert secrets.redact("x module-level-secret y") == f"x {MARK} y"
    assert secrets.redact("a b  c") == "a b  c"


def test_a_marker_never_completes_a_registered_secret():
    """A secret that could be spelt with a marker's tail (here "ted>:1900") still never shows."""
    redactor = Redactor()
    redactor.add("ted>:1900")
    shown = redactor.redact("alice:$6$salt$hashhashhash:19000:0:99999:7:::")
    assert "ted>:1900" not in shown and "$6$salt" not in shown
