"""zkeeper: Apache ZooKeeper rebuilt in Python.

Same wire protocol, same semantics, same files and tools as Apache ZooKeeper, so any
ZooKeeper client or operator feels at home.
"""

__version__ = "0.1.0"
# The ZooKeeper release whose observable behaviour we reproduce (srvr, conf, envi).
ZOOKEEPER_COMPAT_VERSION = "3.8.0"
