//go:build etcd3_5

// Command etcdutl (3.5 line) is a root command over the subcommands 3.5's etcdutl package offers:
// backup, check (v2store), defrag, snapshot and version. scripts/install-etcd.sh builds it with
// -tags etcd3_5 for 3.5 releases.
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
		etcdutl.NewBackupCommand(),
		etcdutl.NewCheckCommand(),
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		etcdutl.NewVersionCommand(),
	)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
