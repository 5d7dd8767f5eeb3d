"""C3 account merge: rules, conflicts, byte-for-byte output, no hashes shown."""

import accounts_grammar as ag
import pytest
from hypothesis import given, settings, strategies as st

from fabfile.edit.accounts import (
    Accounts,
    MalformedLine,
    MergeConflict,
    OrphanShadow,
    parse_group,
    parse_gshadow,
    parse_passwd,
    parse_shadow,
    plan_merge,
)

HASH = "$6$saltsalt$SECRETHASHVALUE"


def pw(name, uid, gid=None):
    gid = uid if gid is None else gid
    return f"{name}:x:{uid}:{gid}:{name}:/home/{name}:/bin/bash\n"


def sh(name, secret=HASH):
    return f"{name}:{secret}-{name}:19000:0:99999:7:::\n"


def gr(name, gid, members=""):
    return f"{name}:x:{gid}:{members}\n"


def gs(name, members=""):
    return f"{name}:!::{members}\n"


def accounts(users, groups=(), shadow_only=()):
    """users: (name, uid[, gid]); groups: (name, gid, members)."""
    passwd = "root:x:0:0:root:/root:/bin/bash\n" + "".join(pw(*u) for u in users)
    shadow = "root:*:19000:0:99999:7:::\n" + "".join(sh(u[0]) for u in users) + "".join(sh(n) for n in shadow_only)
    group = "root:x:0:\n" + "".join(gr(*g) for g in groups)
    gshadow = "root:*::\n" + "".join(gs(g[0], g[2]) for g in groups)
    return Accounts.parse(passwd, shadow, group, gshadow)


def user_groups(users):
    return [(u[0], u[1], "") for u in users]


# ---- parsing ---------------------------------------------------------------


def test_parse_passwd_fields():
    [root, alice] = parse_passwd("root:x:0:0:root:/root:/bin/bash\n" + pw("alice", 1001))
    assert (alice.name, alice.uid, alice.gid, alice.home, alice.shell) == ("alice", 1001, 1001, "/home/alice", "/bin/bash")
    assert alice.line == pw("alice", 1001).rstrip("\n")


def test_parse_skips_blank_and_nis_lines():
    assert [e.name for e in parse_passwd("\n+::::::\n" + pw("a", 1000))] == ["a"]


def test_parse_group_members():
    [g] = parse_group("staff:x:50:alice,bob\n")
    assert g.members == ("alice", "bob")
    assert parse_group("empty:x:51:\n")[0].members == ()


def test_parse_gshadow_admins_members():
    [g] = parse_gshadow("staff:!:carol:alice,bob\n")
    assert g.admins == ("carol",) and g.members == ("alice", "bob")


def test_malformed_passwd_names_kind_and_line():
    with pytest.raises(MalformedLine, match=r"passwd line 2"):
        parse_passwd(pw("a", 1000) + "broken:line\n")


def test_malformed_passwd_uid_not_number():
    with pytest.raises(MalformedLine, match=r"passwd line 1 \(a\): UID"):
        parse_passwd("a:x:one:1:::\n")


def test_malformed_shadow_line_error_has_no_content():
    with pytest.raises(MalformedLine) as error:
        parse_shadow(sh("a") + f"bob:{HASH}:1:2\n")
    message = str(error.value)
    assert "shadow line 2" in message
    assert HASH not in message and "bob" not in message and "$6$" not in message


def test_malformed_gshadow_line_error_has_no_content():
    with pytest.raises(MalformedLine) as error:
        parse_gshadow(f"wheel:{HASH}\n")
    assert "gshadow line 1" in str(error.value)
    assert HASH not in str(error.value)


def test_shadow_entry_repr_hides_hash():
    [entry] = parse_shadow(sh("alice"))
    assert HASH not in repr(entry) and "alice" in repr(entry)


def test_accounts_repr_hides_hash():
    assert HASH not in repr(accounts([("alice", 1001)], user_groups([("alice", 1001)])))


# ---- the plan --------------------------------------------------------------


def test_plan_carries_user_in_range_with_shadow_and_group():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = accounts([])
    plan = plan_merge(old, new, 1000, 29999)
    assert [(u.name, u.uid) for u in plan.users] == [("alice", 1001)]
    assert [(g.name, g.gid) for g in plan.groups] == [("alice", 1001)]
    passwd, shadow, group, gshadow = plan.apply(new)
    assert passwd == new.passwd_text + pw("alice", 1001)
    assert shadow == new.shadow_text + sh("alice")
    assert group == new.group_text + gr("alice", 1001)
    assert gshadow == new.gshadow_text + gs("alice")


@pytest.mark.parametrize("uid, carried", [(999, False), (1000, True), (29999, True), (30000, False)])
def test_uid_range_edges(uid, carried):
    old = accounts([("u", uid)], [("u", uid, "")])
    plan = plan_merge(old, accounts([]), 1000, 29999)
    assert bool(plan.users) is carried


def test_user_on_both_with_same_uid_is_skipped():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = accounts([("alice", 1001)], [("alice", 1001, "")])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.is_empty and not plan.conflicts
    assert any("alice" in s for s in plan.skipped)
    assert plan.apply(new) == new.texts()


def test_conflict_same_name_other_uid():
    old = accounts([("alice", 1001)])
    new = accounts([("alice", 1005)])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.conflicts == ["user alice: uid 1001 on old, uid 1005 on new"]
    with pytest.raises(MergeConflict, match="alice"):
        plan.apply(new)


def test_conflict_same_uid_other_name():
    old = accounts([("alice", 1001)])
    new = accounts([("chikuwa1", 1001)])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.conflicts == ["uid 1001: alice on old, chikuwa1 on new"]
    with pytest.raises(MergeConflict):
        plan.apply(new)


def test_conflict_primary_group_other_gid():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = accounts([], [("alice", 1002, "")])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.conflicts == ["group alice: gid 1001 on old, gid 1002 on new"]


def test_conflict_primary_gid_taken_by_other_group():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = accounts([], [("chikuwa", 1001, "")])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.conflicts == ["gid 1001: group alice on old, chikuwa on new"]


def test_existing_primary_group_on_new_is_not_duplicated():
    old = accounts([("alice", 1001, 100)], [("users", 100, "")])
    new = accounts([], [("users", 100, "")])
    plan = plan_merge(old, new, 1000, 29999)
    assert plan.groups == [] and [u.group for u in plan.users] == ["users"]


def test_shared_primary_group_carried_once():
    old = accounts([("a", 1001, 2000), ("b", 1002, 2000)], [("proj", 2000, "")])
    plan = plan_merge(old, accounts([]), 1000, 29999)
    assert [g.name for g in plan.groups] == ["proj"]


def test_supplementary_groups_of_same_name_on_new():
    old = accounts([("alice", 1001)], [("alice", 1001, ""), ("audio", 29, "bob,alice"), ("oldonly", 60, "alice")])
    new = accounts([], [("audio", 29, "carol")])
    plan = plan_merge(old, new, 1000, 29999)
    _, _, group, gshadow = plan.apply(new)
    assert "audio:x:29:carol,alice\n" in group
    assert "audio:!::carol,alice\n" in gshadow
    assert any("oldonly" in note for note in plan.notes)
    assert "oldonly" not in group


def test_supplementary_group_already_member_unchanged():
    old = accounts([("alice", 1001)], [("alice", 1001, ""), ("audio", 29, "alice")])
    new = accounts([], [("audio", 29, "alice")])
    assert plan_merge(old, new, 1000, 29999).memberships == []


def test_shadow_without_passwd_on_old_is_refused_by_name():
    old = accounts([], shadow_only=["ghost"])
    with pytest.raises(OrphanShadow) as error:
        plan_merge(old, accounts([]), 1000, 29999)
    assert "ghost" in str(error.value) and HASH not in str(error.value)


def test_user_without_shadow_on_old_is_a_conflict():
    old = Accounts.parse(pw("alice", 1001), "", gr("alice", 1001), "")
    plan = plan_merge(old, accounts([]), 1000, 29999)
    assert "no shadow entry" in plan.conflicts[0]


def test_new_build_accounts_survive():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = accounts([("chikuwa1", 1500), ("chikuwa2", 1501)], [("chikuwa1", 1500, ""), ("chikuwa2", 1501, "")])
    passwd, shadow, group, gshadow = plan_merge(old, new, 1000, 29999).apply(new)
    for text, original in zip((passwd, shadow, group, gshadow), new.texts()):
        assert text.startswith(original)


def test_apply_adds_newline_to_unterminated_file():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = Accounts.parse("root:x:0:0:root:/root:/bin/bash", "root:*:1:0:99999:7:::", "root:x:0:", "root:*::")
    passwd, *_ = plan_merge(old, new, 1000, 29999).apply(new)
    assert passwd == "root:x:0:0:root:/root:/bin/bash\n" + pw("alice", 1001)


def test_apply_refuses_when_new_changed_since_plan():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    plan = plan_merge(old, accounts([]), 1000, 29999)
    with pytest.raises(MergeConflict, match="plan again"):
        plan.apply(accounts([("alice", 1001)]))


def test_describe_lists_names_uids_groups_without_hashes():
    old = accounts([("alice", 1001), ("bob", 1002)], [("alice", 1001, ""), ("bob", 1002, ""), ("audio", 29, "alice")])
    new = accounts([("bob", 1002)], [("bob", 1002, ""), ("audio", 29, "")])
    text = "\n".join(plan_merge(old, new, 1000, 29999).describe())
    assert "add alice (uid 1001, group alice); also in audio" in text
    assert "add group alice (gid 1001)" in text
    assert "skip bob (uid 1002)" in text
    assert HASH not in text and "$6$" not in text


def test_plan_repr_has_no_hashes():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    plan = plan_merge(old, accounts([]), 1000, 29999)
    assert HASH not in repr(plan) and HASH not in str(plan)


def test_conflict_message_has_no_hashes():
    plan = plan_merge(accounts([("alice", 1001)]), accounts([("alice", 1002)]), 1000, 29999)
    with pytest.raises(MergeConflict) as error:
        plan.apply(accounts([("alice", 1002)]))
    assert HASH not in str(error.value)


def test_empty_plan_returns_texts_unchanged():
    new = accounts([("x", 1000)], [("x", 1000, "")])
    plan = plan_merge(accounts([]), new, 1000, 29999)
    assert plan.is_empty and plan.apply(new) == new.texts()
    assert "nothing to add" in plan.describe()[-1]


# ---- properties ------------------------------------------------------------

_names = st.sampled_from([f"u{i}" for i in range(8)])
_uids = st.sampled_from([0, 999, 1000, 1001, 1002, 1003, 29999, 30000])
_users = st.dictionaries(_names, _uids, max_size=6)


def _build(users: dict, extra_group_members: list[str]):
    ordered = sorted(users.items())
    groups = [(name, uid, "") for name, uid in ordered] + [("audio", 29, ",".join(extra_group_members))]
    return accounts(ordered, groups)


@settings(max_examples=150, deadline=None)
@given(_users, _users, st.lists(_names, max_size=3, unique=True))
def test_property_second_plan_is_empty_and_apply_is_identity(old_users, new_users, audio):
    old, new = _build(old_users, audio), _build(new_users, [])
    plan = plan_merge(old, new, 1000, 29999)
    if plan.conflicts:
        with pytest.raises(MergeConflict):
            plan.apply(new)
        return
    merged = Accounts.parse(*plan.apply(new))
    again = plan_merge(old, merged, 1000, 29999)
    assert again.is_empty and not again.conflicts
    assert again.apply(merged) == merged.texts()


@settings(max_examples=150, deadline=None)
@given(_users, _users)
def test_property_existing_lines_kept_byte_for_byte(old_users, new_users):
    old, new = _build(old_users, []), _build(new_users, [])
    plan = plan_merge(old, new, 1000, 29999)
    if plan.conflicts:
        return
    for text, original in zip(plan.apply(new), new.texts()):
        assert text.startswith(original)
    carried = {u.name for u in plan.users}
    expected = {n for n, uid in old_users.items() if 1000 <= uid <= 29999 and n not in new_users}
    assert carried == expected


# ---- the files as glibc and shadow-utils read them ---------------------------------

NIS_PASSWD = "+@admins::::::\n-bob::::::\n+::::::"
LEGACY = "$1$oldsalt$LEGACYHASHVALUE000000"


def test_comments_blank_lines_and_nis_lines_are_not_accounts():
    text = "# local\nroot:x:0:0:root:/root:/bin/bash\n\n   \n  # indented comment\n" + NIS_PASSWD
    assert [e.name for e in parse_passwd(text)] == ["root"]
    assert [g.name for g in parse_group("+:::\n-guests:::\n#x\nstaff:x:50:\n+@ng:::")] == ["staff"]


def test_name_with_leading_blanks_is_refused():
    with pytest.raises(MalformedLine, match=r"^passwd line 2: begins with blanks"):
        parse_passwd("root:x:0:0:root:/root:/bin/bash\n  alice:x:1001:1001::/home/alice:/bin/sh\n")


def test_added_lines_go_before_the_first_nis_line_in_every_file():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = Accounts.parse("root:x:0:0:root:/root:/bin/bash\n" + NIS_PASSWD + "\n", "root:*:1:0:99999:7:::\n+::::::::\n",
                         "root:x:0:\n+:::\n", "root:*::\n+:::\n")
    passwd, shadow, group, gshadow = plan_merge(old, new, 1000, 29999).apply(new)
    assert passwd == "root:x:0:0:root:/root:/bin/bash\n" + pw("alice", 1001) + NIS_PASSWD + "\n"
    assert shadow == "root:*:1:0:99999:7:::\n" + sh("alice") + "+::::::::\n"
    assert group == "root:x:0:\n" + gr("alice", 1001) + "+:::\n"
    assert gshadow == "root:*::\n" + gs("alice") + "+:::\n"


def test_nis_line_last_without_newline_stays_so():
    old = accounts([("alice", 1001)], [("alice", 1001, "")])
    new = Accounts.parse("root:x:0:0:root:/root:/bin/bash\n+::::::", "root:*:1:0:99999:7:::", "root:x:0:", "root:*::")
    passwd, shadow, _, _ = plan_merge(old, new, 1000, 29999).apply(new)
    assert passwd == "root:x:0:0:root:/root:/bin/bash\n" + pw("alice", 1001) + "+::::::"
    assert shadow == "root:*:1:0:99999:7:::\n" + sh("alice")


def test_old_nis_entries_are_never_carried():
    old = Accounts.parse(pw("alice", 1001) + "+carol:x:1005:1005::/home/carol:/bin/sh\n+::::::\n", sh("alice"),
                         gr("alice", 1001) + "+:::\n", gs("alice"))
    assert [u.name for u in plan_merge(old, accounts([]), 1000, 29999).users] == ["alice"]


def test_group_member_added_on_the_real_line_not_the_nis_one():
    old = accounts([("alice", 1001)], [("alice", 1001, ""), ("audio", 29, "alice")])
    new = Accounts.parse("root:x:0:0:root:/root:/bin/bash\n", "root:*:1:0:99999:7:::\n",
                         "root:x:0:\naudio:x:29:bob\n+audio:::\n", "root:*::\naudio:!::bob\n")
    _, _, group, gshadow = plan_merge(old, new, 1000, 29999).apply(new)
    assert group == "root:x:0:\naudio:x:29:bob,alice\n" + gr("alice", 1001) + "+audio:::\n"


def test_legacy_hash_moves_to_shadow_as_pwconv_would_and_is_never_shown():
    old = Accounts.parse(f"alice:{LEGACY}:1001:1001:Alice:/home/alice:/bin/sh\n", "", gr("alice", 1001), "")
    new = accounts([])
    plan = plan_merge(old, new, 1000, 29999)
    passwd, shadow, group, gshadow = plan.apply(new)
    assert passwd.endswith("alice:x:1001:1001:Alice:/home/alice:/bin/sh\n")
    assert shadow.endswith(f"alice:{LEGACY}:::::::\n") and group.endswith("alice:x:1001:\n")
    assert gshadow.endswith("alice:x::\n")
    shown = [repr(plan), str(plan), "\n".join(plan.describe()), repr(old), repr(old.passwd), repr(old.group)]
    assert not [s for s in shown if LEGACY in s or "LEGACYHASH" in s]


def test_legacy_hash_stays_where_it_was_when_new_has_no_shadow():
    old = Accounts.parse(f"alice:{LEGACY}:1001:1001::/home/alice:/bin/sh\n", "", gr("alice", 1001), "")
    new = Accounts.parse("root:x:0:0:root:/root:/bin/bash\n", "", "root:x:0:\n", "")
    passwd, shadow, _, _ = plan_merge(old, new, 1000, 29999).apply(new)
    assert LEGACY in passwd and shadow == ""


def test_errors_about_passwd_and_group_quote_no_field():
    for text, parse in ((f"alice:{LEGACY}:x1:1001::/h:/bin/sh\n", parse_passwd), (f"staff:{LEGACY}:5o:\n", parse_group),
                        (f"alice:{LEGACY}:1:2\n", parse_passwd)):
        with pytest.raises(MalformedLine) as error:
            parse(text)
        assert LEGACY not in str(error.value) and "$1$" not in str(error.value)


def test_entry_reprs_hide_every_password_field():
    [user] = parse_passwd(f"alice:{LEGACY}:1001:1001::/h:/bin/sh\n")
    [group] = parse_group(f"staff:{LEGACY}:50:alice\n")
    [gshadow] = parse_gshadow(f"staff:{LEGACY}:carol:alice\n")
    for entry in (user, group, gshadow):
        assert LEGACY not in repr(entry) and entry.name in repr(entry)


# ---- properties on generated account files ---------------------------------------

ACCOUNTS_PROPERTY = settings(max_examples=200, deadline=None)


def _without(text: str, added: list[str]) -> list[str]:
    return [line for line in text.split("\n") if line not in added]


def _merged(old_texts, new_texts):
    old, new = Accounts.parse(*old_texts), Accounts.parse(*new_texts)
    plan = plan_merge(old, new, 1000, 29999)
    if plan.conflicts:
        return old, new, plan, None
    return old, new, plan, plan.apply(new)


@ACCOUNTS_PROPERTY
@given(ag.machines(), ag.machines(names=("alice", "dave", "chikuwa1")))
def test_property_existing_lines_identical_and_additions_before_nis(old_texts, new_texts):
    old, new, plan, merged = _merged(old_texts, new_texts)
    if merged is None:
        return
    added = {"passwd": [u.passwd_line for u in plan.users], "shadow": [u.shadow_line for u in plan.users if u.shadow_line],
             "group": [g.group_line for g in plan.groups], "gshadow": [g.gshadow_line for g in plan.groups if g.gshadow_line]}
    joined = {m.group for m in plan.memberships}
    for kind, before, after in zip(("passwd", "shadow", "group", "gshadow"), new_texts, merged):
        kept = _without(after, added[kind])
        expected = before.split("\n")
        if kind in ("group", "gshadow"):
            kept = [line for line in kept if line.split(":")[0] not in joined]
            expected = [line for line in expected if line.split(":")[0] not in joined]
        assert [line for line in kept if line] == [line for line in expected if line], kind
        lines = after.split("\n")
        nis = [i for i, line in enumerate(lines) if line[:1] in "+-" and line]
        positions = [lines.index(line) for line in added[kind]]
        assert not nis or all(p < nis[0] for p in positions), kind


@ACCOUNTS_PROPERTY
@given(ag.machines(), ag.machines(names=("alice", "dave", "chikuwa1")))
def test_property_merge_is_idempotent_and_shows_no_secret(old_texts, new_texts):
    old, new, plan, merged = _merged(old_texts, new_texts)
    secrets = {e.password for e in old.passwd + new.passwd if e.password.startswith("$")} | \
              {e.password for e in old.shadow + new.shadow if len(e.password) > 2}
    shown = "\n".join(plan.describe()) + repr(plan) + repr(old) + repr(new)
    assert not [s for s in secrets if s in shown]
    if merged is None:
        return
    again = plan_merge(old, Accounts.parse(*merged), 1000, 29999)
    assert again.is_empty and not again.conflicts
