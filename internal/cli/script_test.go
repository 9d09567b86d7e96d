package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets script tests run "refit" as a command in the test binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"refit": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script (txtar files).
func TestScripts(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "..", "testdata", "models"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("MODELS", models)
			env.Setenv("REPO", filepath.Dir(filepath.Dir(models)))
			return nil
		},
	})
}
