package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/refit-ml/refit", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-06T07:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "CGO_ENABLED", Value: "0"}}}
	got := formatVersion(info)
	for _, want := range []string{"refit v1.2.3 (github.com/refit-ml/refit)", "commit 0123abcd (2026-12-06T07:00:00Z), with uncommitted changes", "go1.26.8", "static (CGO_ENABLED=0)"} {
		if !strings.Contains(got, want) {
			t.Errorf("formatVersion = %q, want it to contain %q", got, want)
		}
	}
	old := commit
	defer func() { commit = old }()
	commit = "feedbeef"
	if got := formatVersion(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); !strings.Contains(got, "commit feedbeef") {
		t.Errorf("formatVersion without VCS settings = %q, want the -X commit", got)
	}
}
