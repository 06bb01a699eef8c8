"""vrrp."""
