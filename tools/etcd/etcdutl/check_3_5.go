//go:build etcd3_5 && !etcdutl_nocheck

package main

import (
	"github.com/spf13/cobra"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

// checkCommands is `check` (`check v2store`, run on 3.5 data before an upgrade to 3.6), which
// later 3.5 patches have.
func checkCommands() []*cobra.Command {
	return []*cobra.Command{etcdutl.NewCheckCommand()}
}
