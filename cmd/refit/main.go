// Command refit converts, compresses and verifies AI models. Run "refit help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/refit-ml/refit/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
