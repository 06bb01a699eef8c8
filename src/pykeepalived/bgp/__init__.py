"""Active-active directors: VIP announcements over BGP through an existing BGP engine.

``announce`` is the pure decision core; ``exabgp``/``bird`` drive the engines as child
processes; ``exabgp_helper`` is the small program ExaBGP runs to relay our commands.
"""
