// Command etcdctl is the upstream v3 command-line client, unchanged.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() {
	ctlv3.MustStart()
}
