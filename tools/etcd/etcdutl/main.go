// Command etcdutl is a root command over the upstream etcdutl package's subcommands. Which
// subcommands depends on the line: commands.go (3.6 and later) or commands_3_5.go (build tag
// etcd3_5: 3.5's package has no migrate, and has backup and `check v2store`).
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
	root.AddCommand(commands()...)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
