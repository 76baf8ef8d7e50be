//go:build !etcd3_5

package main

import (
	"github.com/spf13/cobra"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

// commands are the subcommands of etcdutl 3.6 and later.
func commands() []*cobra.Command {
	return []*cobra.Command{
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		etcdutl.NewVersionCommand(),
		etcdutl.NewMigrateCommand(),
	}
}
