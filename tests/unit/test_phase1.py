"""S1 resolver comparison and S3's choice of processes to kill, from a `ps` listing."""

import pytest

from fabfile.edit import resolvconf as resolver
from fabfile.ops import sessions
from fabfile.remote import RemoteError

NS = ["133.30.14.2", "133.30.14.3", "133.30.8.2"]
SEARCH = ["scitec.kobe-u.ac.jp"]


def test_resolver_as_wanted():
    text = "# generated\nsearch scitec.kobe-u.ac.jp\nnameserver 133.30.14.2\nnameserver 133.30.14.3\nnameserver 133.30.8.2\n"
    assert resolver.compare(resolver.parse_resolv_conf(text), NS, SEARCH) == []


def test_resolver_domain_then_search_last_wins():
    found = resolver.parse_resolv_conf("search a.example\ndomain scitec.kobe-u.ac.jp\n" + "".join(f"nameserver {n}\n" for n in NS))
    assert found.search == SEARCH and resolver.compare(found, NS, SEARCH) == []


def test_resolver_reports_every_problem():
    found = resolver.parse_resolv_conf("nameserver 8.8.8.8\nnameserver 133.30.14.2\nsearch lab.example\n")
    problems = resolver.compare(found, NS, SEARCH)
    assert problems == [
        "nameserver(s) missing: 133.30.14.3, 133.30.8.2",
        "nameserver(s) not in hosts.toml: 8.8.8.8",
        "search is lab.example, wanted scitec.kobe-u.ac.jp",
    ]


def test_resolver_order_matters():
    found = resolver.parse_resolv_conf("".join(f"nameserver {n}\n" for n in reversed(NS)) + "search scitec.kobe-u.ac.jp\n")
    assert resolver.compare(found, NS, SEARCH) == ["nameservers in another order: 133.30.8.2, 133.30.14.3, 133.30.14.2 (wanted 133.30.14.2, 133.30.14.3, 133.30.8.2)"]


def test_resolver_fix_text():
    assert resolver.wanted_text(NS[:1], SEARCH) == "search scitec.kobe-u.ac.jp\nnameserver 133.30.14.2"


# ---- S3 -----------------------------------------------------------------------

# The operator's fab connection is root (pid 900 -> 901 -> shell 950 running ps).
# alice is logged in twice (a shell with vim, an scp), bob runs a detached screen,
# carol's cron job runs sh -c, root's own login is spared, daemons are not users.
PS = """\
950
      1       0     0 root     ?        /sbin/lab-init
    100       1     0 root     ?        sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups
    120       1   104 bind     ?        /usr/sbin/named -c /usr/local/bind/etc/named.conf
    130       1    33 www-data ?        /usr/sbin/apache2 -k start
    140       1     0 root     ?        /usr/sbin/cron
    200     100     0 root     ?        sshd: alice [priv]
    201     200  1001 alice    ?        sshd: alice@pts/0
    202     201  1001 alice    pts/0    -bash
    203     202  1001 alice    pts/0    vim notes.txt
    204     202     0 root     pts/0    sudo -i
    210     100     0 root     ?        sshd: alice [priv]
    211     210  1001 alice    ?        sshd: alice@notty
    212     211  1001 alice    ?        scp -t /home/alice
    300       1  1002 bob      ?        SCREEN -S work
    301     300  1002 bob      pts/3    /bin/bash
    302     301  1002 bob      pts/3    top
    400     140     0 root     ?        /usr/sbin/CRON -f
    401     400  1003 carol    ?        /bin/sh -c /home/carol/bin/sync
    500     100     0 root     ?        sshd: root@pts/1
    501     500     0 root     pts/1    -bash
    600       1 65534 nobody   ?        /usr/sbin/inetd
    700       1  1004 dave     ?        /home/dave/bin/daemon --background
    900     100     0 root     ?        sshd: root@notty
    950     900     0 root     ?        bash -c echo $$; ps -eo pid=,ppid=,uid=,user:32=,tty=,args=
    951     950     0 root     ?        ps -eo pid=,ppid=,uid=,user:32=,tty=,args=
"""

LOGIN = ["sshd", "bash", "sh", "-bash", "zsh", "screen", "tmux"]


def victims(text=PS, **kw):
    own, procs = sessions.parse_ps(text)
    options = dict(uid_min=1000, uid_max=29999, spare_users=["root"], login_commands=LOGIN)
    options.update(kw)
    return sessions.choose_victims(procs, own, **options)


def test_parse_ps_reads_own_pid_and_args_with_spaces():
    own, procs = sessions.parse_ps(PS)
    assert own == 950
    assert procs[1].args == "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
    assert {p.pid: p.command for p in procs}[202] == "bash"


def test_sshd_session_user_tells_sessions_from_the_listener():
    assert sessions.sshd_session_user("sshd: alice@pts/0") == "alice"
    assert sessions.sshd_session_user("sshd: alice@notty") == "alice"
    assert sessions.sshd_session_user("sshd: alice [priv]") == "alice"
    assert sessions.sshd_session_user("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups") is None
    assert sessions.sshd_session_user("/usr/sbin/sshd -D") is None


def test_victims_are_the_users_sessions_and_what_runs_in_them():
    assert [(p.user, p.pid) for p in victims()] == [
        ("alice", 201), ("alice", 202), ("alice", 203), ("alice", 211), ("alice", 212),
        ("bob", 300), ("bob", 301), ("bob", 302),
    ]


def test_never_root_daemons_cron_jobs_or_background_programs():
    pids = {p.pid for p in victims()}
    assert not pids & {1, 100, 120, 130, 140, 200, 204, 210, 400, 401, 500, 501, 600, 700, 900, 950, 951}


def test_never_the_operators_session_even_as_a_user():
    # The operator connected as alice (uid 1001) this time: that connection's subtree is protected.
    text = PS.replace("950\n", "960\n", 1) + (
        "    955     100     0 root     ?        sshd: alice [priv]\n"
        "    956     955  1001 alice    ?        sshd: alice@notty\n"
        "    960     956  1001 alice    ?        bash -c echo $$; ps\n"
        "    961     956  1001 alice    ?        sftp-server\n"
    )
    pids = {p.pid for p in victims(text)}
    assert not pids & {955, 956, 960, 961}
    assert {201, 202, 211} <= pids


def test_spare_users_and_range_are_respected():
    assert {p.user for p in victims(spare_users=["root", "alice"])} == {"bob"}
    assert victims(uid_min=2000) == []


def test_a_listing_without_its_own_pid_is_refused():
    with pytest.raises(RemoteError):
        victims(PS.split("\n", 1)[1])


def test_still_there_ignores_reused_pids():
    own, procs = sessions.parse_ps(PS)
    chosen = victims()
    later = [p for p in procs if p.pid != 203] + [sessions.Proc(203, 1, 1005, "erin", "?", "other")]
    assert [p.pid for p in sessions.still_there(chosen, later)] == [201, 202, 211, 212, 300, 301, 302]


def test_table_never_overflows_a_line():
    assert all(len(line) < 120 for line in sessions.table(victims()))
