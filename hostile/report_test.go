//go:build unix

package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeNamedSafetensors writes one small F32 tensor under each name.
func writeNamedSafetensors(t *testing.T, path string, names ...string) {
	t.Helper()
	var hdr strings.Builder
	hdr.WriteString("{")
	for i, n := range names {
		if i > 0 {
			hdr.WriteString(",")
		}
		q := jsonString(n)
		fmt.Fprintf(&hdr, `%s:{"dtype":"F32","shape":[2,2],"data_offsets":[%d,%d]}`, q, 16*i, 16*(i+1))
	}
	hdr.WriteString("}")
	h := hdr.String()
	for len(h)%8 != 0 {
		h += " "
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(h)))
	b.WriteString(h)
	for i := range names {
		binary.Write(&b, binary.LittleEndian, []float32{float32(i) + 0.1, -1.3, 2.7, 1e-3})
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// jsonString quotes s for a JSON document, escaping only what JSON requires (so the
// markup reaches the file as it is).
func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// Attack class "report": the HTML report of --report shows names that come from the
// model. Tensor names made of markup (a script that closes the embedded JSON's script
// element, an image with an onerror handler, an SVG) must come out escaped, in the
// tables, the plots' labels and the embedded JSON alike.
func TestReportMarkupNames(t *testing.T) {
	dir := t.TempDir()
	in, out, rep := filepath.Join(dir, "in.safetensors"), filepath.Join(dir, "out.safetensors"), filepath.Join(dir, "r.html")
	names := []string{`</script><script>alert(1)</script>`, `<img src=x onerror=alert(2)>`, `<svg onload=alert(3)>`, `a&b"c'd`}
	writeNamedSafetensors(t, in, names...)
	r := runRefit(t, limits{}, "convert", in, out, "--dtype", "f16", "--report", rep)
	if r.code != 0 {
		t.Fatalf("convert with --report: %v", r)
	}
	page, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "onerror=alert(2)>"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("the report holds %q unescaped", bad)
		}
	}
	if n := bytes.Count(page, []byte("</script>")); n != 2 { // the JSON's and the sorting script's
		t.Errorf("the report closes %d script elements, want 2", n)
	}
}

// Attack class "report": --report naming the command's own output or input is refused
// before anything is written (the report would replace the model), and a report path
// planted as a symlink to a user's file is refused without --force and replaced, not
// written through, with it.
func TestReportTargets(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.safetensors"), filepath.Join(dir, "out.safetensors")
	writeNamedSafetensors(t, in, "w")
	before, _ := os.ReadFile(in)
	for _, target := range []string{in, out} {
		r := runRefit(t, limits{}, "convert", in, out, "--dtype", "f16", "--report", target)
		if r.code != 64 {
			t.Errorf("--report %s (a model file of the command): exit %d, want 64\n%v", target, r.code, r)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("--report %s: the output was written", target)
		}
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Fatal("the input changed")
	}
	victim := filepath.Join(dir, "victim.txt")
	const keep = "the user's file\n"
	os.WriteFile(victim, []byte(keep), 0o644)
	link := filepath.Join(dir, "r.html")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if r := runRefit(t, limits{}, "convert", in, out, "--dtype", "f16", "--report", link); r.code == 0 {
		t.Errorf("--report over an existing symlink without --force succeeded\n%v", r)
	}
	if r := runRefit(t, limits{}, "convert", in, out, "--dtype", "f16", "--report", link, "--force"); r.code != 0 {
		t.Fatalf("--report with --force: %v", r)
	}
	if b, _ := os.ReadFile(victim); string(b) != keep {
		t.Errorf("the report was written through the symlink: victim holds %q", b)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink != 0 {
		t.Errorf("the symlink is still there instead of the report (%v)", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".refit-tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
