// Wrapper module that builds etcd, etcdctl and etcdutl of one release line from the Go
// module proxy. scripts/install-etcd.sh copies this folder, pins the version, and builds (3.5 with
// -tags etcd3_5, which picks etcdutl/commands_3_5.go).
module etcdsteward.local/tools/etcd

go 1.24

require (
	go.etcd.io/etcd/server/v3 v3.6.16
	go.etcd.io/etcd/etcdctl/v3 v3.6.16
	go.etcd.io/etcd/etcdutl/v3 v3.6.16
)
