# shellcheck shell=bash
# Shared by soak.sh and soak-rates.sh (sourced, not run): a network namespace $NS and a
# veth pair whose end $HOST_IF stays here, for tcpreplay, while its end $NS_IF lives in
# the namespace, where `tlstap live` captures. The caller sets NS, HOST_IF and NS_IF.

# veth_require NAME: exit 2 (saying so as NAME) unless root and tcpreplay are here.
veth_require() {
  [ "$(id -u)" -eq 0 ] || { echo "$1: needs root (namespaces, capture)" >&2; exit 2; }
  command -v tcpreplay >/dev/null || { echo "$1: install tcpreplay" >&2; exit 2; }
}

# veth_up [MTU]: create the namespace and the veth pair and set both ends up (with MTU
# when given).
veth_up() {
  ip netns add "$NS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NS"
  ip link set "$HOST_IF" ${1:+mtu "$1"} up
  ip netns exec "$NS" ip link set "$NS_IF" ${1:+mtu "$1"} up
}

# veth_down: remove the veth pair and the namespace, if they are there.
veth_down() {
  ip link del "$HOST_IF" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
