//go:build !etcd3_5

// Command etcdutl (3.6 and later) is a root command over the upstream etcdutl package's
// subcommands. The 3.5 line has its own main (main_3_5.go, build tag etcd3_5): its package has no
// migrate command, and it has backup and check (`check v2store`, run before an upgrade to 3.6).
package main

import (
	"os"

	"github.com/spf13/cobra"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

func main() {
	root := &cobra.Command{Use: "etcdutl", Short: "An administrative command line tool for etcd3."}
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple",
		"set the output format (fields, json, protobuf, simple, table)")
	root.AddCommand(
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		etcdutl.NewVersionCommand(),
		etcdutl.NewMigrateCommand(),
	)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
