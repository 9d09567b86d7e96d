package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newVersionCmd) }

// commit is the VCS revision for builds the toolchain did not stamp (a git worktree,
// GOFLAGS=-buildvcs=false): go build -ldflags "-X github.com/refit-ml/refit/internal/cli.commit=$(git rev-parse HEAD)".
var commit string

// version describes this binary from the build information Go embeds: the module
// version (a tag with go install ...@vX, "(devel)" from a clone), the VCS commit and
// its time (go build in a git checkout), and the toolchain.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "refit (no build information) " + runtime.Version()
	}
	return formatVersion(info)
}

func formatVersion(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, modified, cgo string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		case "CGO_ENABLED":
			cgo = s.Value
		}
	}
	if rev == "" {
		rev = commit
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refit %s", v)
	if info.Main.Path != "" {
		fmt.Fprintf(&b, " (%s)", info.Main.Path)
	}
	if rev != "" {
		fmt.Fprintf(&b, "\ncommit %s", rev)
		if at != "" {
			fmt.Fprintf(&b, " (%s)", at)
		}
		if modified == "true" {
			b.WriteString(", with uncommitted changes")
		}
	} else {
		b.WriteString("\ncommit unknown (built outside a git checkout, or with -buildvcs=false)")
	}
	fmt.Fprintf(&b, "\n%s %s/%s", info.GoVersion, runtime.GOOS, runtime.GOARCH)
	switch cgo {
	case "0":
		b.WriteString(", static (CGO_ENABLED=0)")
	case "1":
		b.WriteString(", cgo enabled (dynamically linked)")
	}
	return b.String()
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version, VCS commit and Go toolchain of this binary (also refit --version)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, a []string) error {
			fmt.Fprintln(e.stdout, version())
			return nil
		},
	}
}
