//go:build etcd3_5 && etcdutl_nocheck

package main

import "github.com/spf13/cobra"

// checkCommands is empty for early 3.5 patches (such as 3.5.16), whose etcdutl package has no
// check command; scripts/install-etcd.sh adds the tag etcdutl_nocheck for them.
func checkCommands() []*cobra.Command { return nil }
