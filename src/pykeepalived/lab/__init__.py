"""The lab: the seed's whole system (two directors, two web servers, a client) in network
namespaces on one machine, and a scenario that plays the seed's tutorial with measured times.
"""
