"""C6: new's key on old may only run the /home rsync, and root's authorized_keys is set aside.

The runbook prefixes the line of new's public key in old's
/root/.ssh/authorized_keys with the rsync-only options, then renames the file
(authorized_keys.bk), so root login on old *with that file's keys* is refused.

The operator's own access: hosts.toml has the operator log in to old as root.
If the operator's key were in the renamed file, the rename would lock the
operator out of old mid-swap (C7-C10 and phase3 run on old). OpenSSH's default
AuthorizedKeysFile is ".ssh/authorized_keys .ssh/authorized_keys2", so the
operator's key belongs in authorized_keys2 (or in a user account with sudo).
Before the rename this step refuses when the operator's key (hosts.toml key)
is in the file; after it, a brand-new login must work, otherwise the file is
renamed back and the step fails.
"""

from __future__ import annotations

from ..edit.authkeys import parse_key_line, restrict_key
from ..edit import line_body, split_lines_keepends
from ..errors import RemoteError
from ..exposures import AUTHKEYS, open_exposure


def operator_blob(spec) -> str | None:
    """The base64 blob of the operator's key for this host (hosts.toml key), if known."""
    if not spec.key:
        return None
    try:
        with open(spec.key + ".pub", encoding="utf-8") as fh:
            parsed = parse_key_line(fh.read().strip())
            if parsed:
                return parsed.blob
    except OSError:
        pass
    try:
        import paramiko

        return paramiko.PKey.from_path(spec.key).get_base64()
    except Exception:
        return None


def holds_blob(text: str, blob: str) -> bool:
    for raw in split_lines_keepends(text):
        key = parse_key_line(line_body(raw)[0])
        if key is not None and key.blob == blob:
            return True
    return False


def restrict_and_rename(step, old, new) -> None:
    cfg = step.settings.authorized_keys
    path, renamed = cfg.path, cfg.renamed_to
    public = new.read_text(cfg.new_public_key).strip()
    if parse_key_line(public) is None:
        raise RemoteError(f"{new.alias}: {cfg.new_public_key} is not an OpenSSH public key; check authorized_keys.new_public_key")
    here, there = old.exists(path), old.exists(renamed)
    if here and there:
        raise RemoteError(
            f"{old.alias}: both {path} and {renamed} exist; keep one (the runbook's result is only {renamed}), then run C6 again"
        )
    if not here and not there:
        raise RemoteError(f"{old.alias}: neither {path} nor {renamed} exists; check authorized_keys.path in hosts.toml")
    current = path if here else renamed
    transform = lambda text: restrict_key(text, public, cfg.options)  # noqa: E731
    old.edit(current, transform)
    if not here:
        old.say(f"{path}: unchanged (already renamed to {renamed})")
        return
    blob = operator_blob(old.spec)
    if blob and holds_blob(old.read_text(path), blob):
        raise RemoteError(
            f"{old.alias}: the operator's own key ({old.spec.key}) is in {path}: renaming it would lock you out of old; "
            f"put your key in /root/.ssh/authorized_keys2 first (sshd reads it too by default), then run C6 again"
        )
    old.change(["mv", "-n", "--", path, renamed], what=f"mv {path} {renamed}")
    if old.dry:
        return
    if not step.session.fresh_login(old.spec, old.address):
        old.change(["mv", "-n", "--", renamed, path], what=f"mv {renamed} {path} (rolled back)")
        raise RemoteError(
            f"{old.alias}: after the rename a fresh root login failed: {path} put back; "
            f"put the operator's key in /root/.ssh/authorized_keys2, then run C6 again"
        )
    open_exposure(step, old, AUTHKEYS, path=path, renamed_to=renamed)
    old.say(f"{path} renamed to {renamed}; a fresh operator login still works")
