// Command refit converts, compresses and verifies AI models. Run "refit help" for usage.
package main

import (
	"context"
	"os"

	"github.com/refit-ml/refit/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
