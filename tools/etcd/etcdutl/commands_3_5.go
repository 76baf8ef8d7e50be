//go:build etcd3_5

package main

import (
	"github.com/spf13/cobra"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

// commands are the subcommands 3.5's etcdutl package offers; scripts/install-etcd.sh builds 3.5
// releases with -tags etcd3_5.
func commands() []*cobra.Command {
	return append([]*cobra.Command{
		etcdutl.NewBackupCommand(),
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		etcdutl.NewVersionCommand(),
	}, checkCommands()...)
}
