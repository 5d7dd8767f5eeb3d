"""Zone files and a named.conf shaped like the seed's, shared by the zone, named.conf and phase tests."""

LAB_ZONE = """\
; the site zone
$TTL 3600
@\tIN\tSOA\titpass.scitec.kobe-u.ac.jp. root.itpass.scitec.kobe-u.ac.jp. (
\t\t\t2009102001\t; serial
\t\t\t10800 3600 604800 3600 )
\tIN\tNS\titpass.scitec.kobe-u.ac.jp.
itpass\tIN\tA\t133.30.109.22
"""


NAMED_CONF = """\
// site named.conf
options {
\tdirectory "/usr/local/bind/etc/namedb";
\tlisten-on { any; };
};
controls { };
/* an old zone
zone "gone.example" { type master; file "localhost.zone"; };
*/
zone "scitec.kobe-u.ac.jp" {
\ttype master;
\tallow-update { none; };
\tfile "localhost.zone";
};
zone "109.30.133.in-addr.arpa" IN {
\ttype master;
\tfile "/usr/local/bind/etc/namedb/localhost.rev";
};
"""


FWD = """\
$TTL 3600
@\tIN\tSOA\titpass.scitec.kobe-u.ac.jp. root.itpass.scitec.kobe-u.ac.jp. (
\t\t\t2009102001\t; serial
\t\t\t10800 3600 604800 3600 )
\tIN\tNS\titpass.scitec.kobe-u.ac.jp.
\tIN\tMX\t10 itpass.scitec.kobe-u.ac.jp.
itpass\tIN\tA\t133.30.109.22
ika-itpass\tIN\tA\t133.30.109.21
new-itpass\tIN\tA\t133.30.109.21
tako\t3600\tIN\tA\t133.30.109.22 ; old's machine name
ika\tIN\tA\t133.30.109.21
mail\tIN\tCNAME\tika-itpass
"""


REV = """\
$TTL 3600
$ORIGIN 109.30.133.in-addr.arpa.
@\tIN\tSOA\titpass.scitec.kobe-u.ac.jp. root.itpass.scitec.kobe-u.ac.jp. ( 2009102001 10800 3600 604800 3600 )
\tIN\tNS\titpass.scitec.kobe-u.ac.jp.
22\tIN\tPTR\titpass.scitec.kobe-u.ac.jp.
21\tIN\tPTR\tika-itpass.scitec.kobe-u.ac.jp.
30\tIN\tPTR\tdennou.scitec.kobe-u.ac.jp.
"""
