package testtool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// SeaweedFSVersion is the SeaweedFS module version scripts/setup builds (its S3
// gateway is the real S3-compatible server of the s3:// tests).
const SeaweedFSVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// SeaweedFS returns the path of the weed binary (see SeaweedFSPath), skipping the test
// when it is absent (failing it with REFIT_REQUIRE_TOOLS=1).
func SeaweedFS(t testing.TB) string {
	t.Helper()
	bin, err := SeaweedFSPath()
	if err != nil {
		missing(t, "SeaweedFS (built by scripts/setup)", err)
	}
	return bin
}

// SeaweedFSPath returns the path of the weed binary: $REFIT_SEAWEEDFS, else
// weed-VERSION in $REFIT_SEAWEEDFS_DIR (default ~/.cache/refit/seaweedfs), where
// scripts/setup builds it; an error when it is not there.
func SeaweedFSPath() (string, error) {
	bin := os.Getenv("REFIT_SEAWEEDFS")
	if bin == "" {
		dir := os.Getenv("REFIT_SEAWEEDFS_DIR")
		if dir == "" {
			home, _ := os.UserHomeDir()
			dir = filepath.Join(home, ".cache", "refit", "seaweedfs")
		}
		bin = filepath.Join(dir, "weed-"+SeaweedFSVersion)
	}
	st, err := os.Stat(bin)
	if err == nil && st.IsDir() {
		err = fmt.Errorf("%s is a folder", bin)
	}
	return bin, err
}

// SkipWithoutSeaweedFS is for a package whose TestMain started no server (err from
// StartS3Server): it skips the test when weed is not built (failing it with
// REFIT_REQUIRE_TOOLS=1), and fails it when weed is there but would not start.
func SkipWithoutSeaweedFS(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, fs.ErrNotExist) {
		missing(t, "SeaweedFS (built by scripts/setup)", err)
	}
	t.Fatalf("starting SeaweedFS: %v", err)
}

// S3Server is a SeaweedFS server (master, volume, filer and S3 gateway in one process)
// on free loopback ports, with one identity whose keys are AccessKey and SecretKey;
// requests without them are refused.
type S3Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	Dir                  string // data folder

	cmd      *exec.Cmd
	log      string
	stopOnce sync.Once
	waited   chan struct{}
}

// Env is the environment that points Refit (and any AWS tool) at the server.
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=us-east-1",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_ENDPOINT_URL_S3=",
	}
}

// Client is an S3 client of the server with its keys.
func (s *S3Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := s.client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *S3Server) client() (*minio.Client, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, err
	}
	return minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
}

// freePorts reserves n distinct loopback ports (released before the server binds them;
// a clash with another process in between makes the start fail, not hang).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// StartS3 starts a SeaweedFS server with an S3 gateway for the test and stops it when
// the test ends. It returns once the gateway answers authenticated requests.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := SeaweedFS(t)
	s, err := startS3(bin, t.TempDir())
	if err != nil {
		t.Fatalf("starting SeaweedFS: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartS3Server is StartS3 for a TestMain that shares one server among a package's
// tests: dir is its data folder, and the caller stops it. The error wraps
// fs.ErrNotExist when weed is not built.
func StartS3Server(dir string) (*S3Server, error) {
	bin, err := SeaweedFSPath()
	if err != nil {
		return nil, err
	}
	return startS3(bin, dir)
}

func startS3(bin, dir string) (*S3Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &S3Server{AccessKey: "refittestkey", SecretKey: "refittestsecret0123456789", Dir: dir, waited: make(chan struct{})}
	config := fmt.Sprintf(`{"identities": [{"name": "refit", "credentials": [{"accessKey": %q, "secretKey": %q}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}`, s.AccessKey, s.SecretKey)
	cfgPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(bin, cfgPath, data); err == nil {
			return s, nil
		}
		s.Stop()
		s.stopOnce, s.waited = sync.Once{}, make(chan struct{})
	}
	return nil, fmt.Errorf("%w\n%s", err, tail(s.log, 4000))
}

func (s *S3Server) start(bin, cfgPath, data string) error {
	p, err := freePorts(10)
	if err != nil {
		return err
	}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", p[6])
	s.log = filepath.Join(s.Dir, fmt.Sprintf("weed-%d.log", p[6]))
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"server", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		fmt.Sprintf("-master.port=%d", p[0]), fmt.Sprintf("-master.port.grpc=%d", p[1]),
		fmt.Sprintf("-volume.port=%d", p[2]), fmt.Sprintf("-volume.port.grpc=%d", p[3]),
		"-filer", fmt.Sprintf("-filer.port=%d", p[4]), fmt.Sprintf("-filer.port.grpc=%d", p[5]),
		"-s3", fmt.Sprintf("-s3.port=%d", p[6]), fmt.Sprintf("-s3.port.grpc=%d", p[7]),
		"-s3.config=" + cfgPath, fmt.Sprintf("-debug.port=%d", p[8]),
		"-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=1024", "-volume.max=0",
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Dir = s.Dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { s.cmd.Wait(); close(s.waited) }()
	c, err := s.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.waited:
			return fmt.Errorf("weed exited: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S3 gateway not ready after 90 s: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// MakeBucket creates a bucket, retrying while the server finishes starting (the
// gateway can answer before its filer takes writes).
func (s *S3Server) MakeBucket(t testing.TB, name string) {
	t.Helper()
	c := s.Client(t)
	var err error
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.MakeBucket(ctx, name, minio.MakeBucketOptions{})
		cancel()
		code := minio.ToErrorResponse(err).Code
		if err == nil || code == "BucketAlreadyOwnedByYou" {
			return
		}
		if code == "InvalidBucketName" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("MakeBucket(%s): %v\n%s", name, err, tail(s.log, 2000))
}

// Stop kills the server (SIGKILL: a server that vanishes, as a dropped connection does)
// and waits for it to exit.
func (s *S3Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		s.cmd.Process.Kill()
		<-s.waited
	})
}

// Log returns the end of the server's log, for failure messages.
func (s *S3Server) Log() string { return tail(s.log, 4000) }

func tail(name string, n int) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
