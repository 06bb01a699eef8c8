"""The VMACs' IGMP/MLD rules (keepalived's "move igmp"): the nftables script is pure text."""

from pykeepalived.kernel.ports import VmacSpec
from pykeepalived.kernel.vmac import nft_script


def test_reports_leave_from_the_base_and_the_tables_go_with_the_last_vmac() -> None:
    vmacs = [
        VmacSpec(ifname="vrrp.18", base="eth1", mac="00:00:5e:00:01:12", family=4),
        VmacSpec(ifname="vrrp6.18", base="eth1", mac="00:00:5e:00:02:12", family=6),
    ]
    script = nft_script(vmacs)
    assert 'oifname "vrrp.18" ip protocol igmp dup to ip daddr device "eth1"' in script
    assert 'oifname "vrrp.18" ip protocol igmp drop' in script
    assert 'oifname "vrrp6.18" icmpv6 type nd-router-solicit drop' in script
    assert script.count("type filter hook output priority -1; policy accept;") == 2
    empty = nft_script([])
    assert empty.splitlines() == [
        "table ip pykeepalived_vmac {}",
        "delete table ip pykeepalived_vmac",
        "table ip6 pykeepalived_vmac {}",
        "delete table ip6 pykeepalived_vmac",
    ]
