"""The data tree: znodes with data, Stat and ACL; ephemerals, containers, TTL; watches."""
