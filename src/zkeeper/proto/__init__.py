"""Sans-IO ZooKeeper client-protocol connections: bytes in, events out; records in, bytes out."""
