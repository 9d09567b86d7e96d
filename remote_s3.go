package refit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Storage is one bucket of an S3-compatible store, through minio-go: a small client
// (no code generation, a handful of dependencies) that signs requests (SigV4) for any
// S3-compatible server, so Refit writes no signing code of its own.
//
// Configuration follows the AWS command line tools:
//   - endpoint: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (http:// or https://; path-style
//     requests), else Amazon S3;
//   - region: AWS_REGION, else AWS_DEFAULT_REGION (else asked of the server, for AWS);
//   - credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the
//     shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) and profile
//     (AWS_PROFILE), else anonymous requests (public buckets).
type s3Storage struct {
	core   minio.Core
	bucket string
}

// s3Client is made once per process: the environment does not change while it runs.
var s3Client = sync.OnceValues(func() (*minio.Client, error) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	host, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("refit: S3 endpoint %q (AWS_ENDPOINT_URL): want http://host:port or https://host: %w", endpoint, fs.ErrInvalid)
		}
		host, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
		if region == "" {
			region = "us-east-1" // other stores ignore it; asking would cost a request
		}
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	return minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		Transport:    httpClient().Transport,
		MaxRetries:   3,
	})
})

func newS3Storage(bucket string) (*s3Storage, error) {
	c, err := s3Client()
	if err != nil {
		return nil, err
	}
	return &s3Storage{core: minio.Core{Client: c}, bucket: bucket}, nil
}

func (s *s3Storage) URL(key string) string { return "s3://" + s.bucket + "/" + key }

// s3Error gives a failed request a message naming the object and a cause that
// errors.Is recognizes: fs.ErrNotExist for a missing bucket or object, fs.ErrPermission
// for refused credentials.
func (s *s3Storage) s3Error(op, key string, err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return &fs.PathError{Op: op, Path: s.URL(key), Err: err}
	}
	switch er.Code {
	case "NoSuchBucket":
		return fmt.Errorf("refit: %s: bucket %q does not exist: %w", s.URL(key), s.bucket, fs.ErrNotExist)
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return &fs.PathError{Op: op, Path: s.URL(key), Err: fs.ErrNotExist}
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "AllAccessDisabled", "Forbidden":
		return fmt.Errorf("refit: %s: access denied (%s; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE): %w",
			s.URL(key), er.Code, fs.ErrPermission)
	}
	switch er.StatusCode {
	case 404:
		return &fs.PathError{Op: op, Path: s.URL(key), Err: fs.ErrNotExist}
	case 401, 403:
		return fmt.Errorf("refit: %s: access denied (HTTP %d): %w", s.URL(key), er.StatusCode, fs.ErrPermission)
	}
	return &fs.PathError{Op: op, Path: s.URL(key), Err: err}
}

func (s *s3Storage) Stat(ctx context.Context, key string) (int64, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return 0, &fs.PathError{Op: "stat", Path: s.URL(key), Err: fs.ErrNotExist}
	}
	info, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.s3Error("stat", key, err)
	}
	return info.Size, nil
}

// Open asks for the first block with a ranged GET, which tells the size and fills the
// cache in one request; an empty object (which has no byte range) takes a HEAD.
func (s *s3Storage) Open(ctx context.Context, key string) (File, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("refit: %s names a folder, not an object: %w", s.URL(key), fs.ErrInvalid)
	}
	url := s.URL(key)
	opts := minio.GetObjectOptions{}
	opts.SetRange(0, firstBlock-1)
	w := newWatchdog(ctx)
	defer w.stop()
	rawBody, _, header, err := s.core.GetObject(w.ctx, s.bucket, key, opts)
	if err = w.explain(err); err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			size, serr := s.Stat(ctx, key)
			if serr != nil {
				return nil, serr
			}
			if size == 0 {
				return newRangeFile(url, 0, s.fetcher(key, 0)), nil
			}
		}
		return nil, s.s3Error("open", key, err)
	}
	body := &watchedBody{rawBody, w}
	defer body.Close()
	_, last, total, ok := parseContentRange(header.Get("Content-Range"))
	if !ok || total < 0 || last >= total {
		return nil, fmt.Errorf("refit: %s: bad Content-Range %q: %w", url, header.Get("Content-Range"), ErrFormat)
	}
	n := min(firstBlock, total)
	if err := checkRange(url, header.Get("Content-Range"), 0, n, total); err != nil {
		return nil, err
	}
	f := newRangeFile(url, total, s.fetcher(key, total))
	data := make([]byte, n)
	if err := readExact(&checkedBody{rc: body, left: n, url: url}, data); err != nil {
		return nil, f.readError(0, n, err)
	}
	f.blocks = []cachedBlock{{0, data}}
	f.lastEnd, f.lastLen = n, n
	return f, nil
}

func (s *s3Storage) fetcher(key string, size int64) rangeFetcher {
	url := s.URL(key)
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(off, off+n-1); err != nil {
			return nil, err
		}
		body, _, header, err := s.core.GetObject(ctx, s.bucket, key, opts)
		if err != nil {
			return nil, s.s3Error("read", key, err)
		}
		cr := header.Get("Content-Range")
		if cr == "" && off == 0 && n == size {
			// A range covering the whole object may be answered with the whole object.
		} else if err := checkRange(url, cr, off, n, size); err != nil {
			body.Close()
			return nil, err
		}
		return &checkedBody{rc: body, left: n, url: url}, nil
	}
}

func (s *s3Storage) List(ctx context.Context, prefix string) ([]fs.DirEntry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var list []fs.DirEntry
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, s.s3Error("list", prefix, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		dir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		list = append(list, remoteInfo{name: name, size: obj.Size, dir: dir})
	}
	return sortEntries(list), nil
}

func (s *s3Storage) Remove(ctx context.Context, key string) error {
	if err := s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.s3Error("remove", key, err)
	}
	return nil
}

// Create starts a multipart upload, lazily: an object smaller than one part is sent
// with one PUT at Commit.
func (s *s3Storage) Create(ctx context.Context, key string) (PendingObject, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("refit: %s names a folder, not an object: %w", s.URL(key), fs.ErrInvalid)
	}
	return &s3Upload{s: s, ctx: ctx, key: key}, nil
}

// Part sizes: S3 allows 10,000 parts of at least 5 MiB (but the last). Parts start at
// 8 MiB and grow by 8 MiB every 500 parts, so memory stays at two small parts for
// ordinary outputs (16 MiB up to 4 GB) while the limit is near 880 GB.
const (
	partUnit   = 8 << 20
	partsGrow  = 500
	partsLimit = 10000
)

// s3Upload streams an object as a multipart upload: each full part is sent while the
// next one fills (one part in flight), and the upload is completed only by Commit.
type s3Upload struct {
	s        *s3Storage
	ctx      context.Context
	key      string
	uploadID string
	buf      []byte
	parts    []minio.CompletePart
	inflight chan error // the part being sent; nil when none
	sending  []byte     // its bytes, reused for the part after next once sent
	spare    []byte
	err      error // sticky
	done     bool
}

func (u *s3Upload) partSize() int { return partUnit * (1 + len(u.parts)/partsGrow) }

func (u *s3Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.done {
		return 0, errors.New("refit: write to a finished upload")
	}
	total := len(p)
	for len(p) > 0 {
		if u.buf == nil {
			if size := u.partSize(); cap(u.spare) == size {
				u.buf, u.spare = u.spare[:0], nil
			} else {
				u.buf = make([]byte, 0, size)
			}
		}
		n := min(len(p), cap(u.buf)-len(u.buf))
		u.buf = append(u.buf, p[:n]...)
		p = p[n:]
		if len(u.buf) == cap(u.buf) {
			if err := u.sendPart(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// sendPart waits for the part in flight and starts sending the buffer as the next one.
func (u *s3Upload) sendPart() error {
	if err := u.wait(); err != nil {
		return err
	}
	if len(u.parts) >= partsLimit {
		u.err = fmt.Errorf("refit: %s: output larger than an S3 multipart upload allows", u.s.URL(u.key))
		return u.err
	}
	if u.uploadID == "" {
		id, err := u.s.core.NewMultipartUpload(u.ctx, u.s.bucket, u.key, minio.PutObjectOptions{})
		if err != nil {
			u.err = u.s.s3Error("create", u.key, err)
			return u.err
		}
		u.uploadID = id
		openUploads.add(u)
	}
	data := u.buf
	u.buf = nil
	number := len(u.parts) + 1
	u.parts = append(u.parts, minio.CompletePart{PartNumber: number})
	done := make(chan error, 1)
	u.inflight, u.sending = done, data
	go func() {
		part, err := u.s.core.PutObjectPart(u.ctx, u.s.bucket, u.key, u.uploadID, number,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
		if err == nil {
			u.parts[number-1].ETag = part.ETag
			remoteStats.written.Add(int64(len(data)))
		}
		done <- err
	}()
	return nil
}

func (u *s3Upload) wait() error {
	if u.inflight == nil {
		return u.err
	}
	err := <-u.inflight
	u.inflight = nil
	// Two part buffers in all: the sent one fills again, rather than leaving garbage
	// for the collector (which would let the heap grow to twice that).
	u.spare, u.sending = u.sending, nil
	if err != nil && u.err == nil {
		u.err = u.s.s3Error("write", u.key, err)
	}
	return u.err
}

// Commit sends what is left and completes the upload, making the object visible.
func (u *s3Upload) Commit() error {
	if u.done {
		return errors.New("refit: upload already finished")
	}
	if err := u.ctx.Err(); err != nil && u.err == nil {
		u.err = err
	}
	if u.err != nil {
		u.Abort()
		return u.err
	}
	if u.uploadID == "" {
		// Smaller than one part: one PUT.
		u.done = true
		_, err := u.s.core.PutObject(u.ctx, u.s.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), "", "", minio.PutObjectOptions{})
		if err != nil {
			return u.s.s3Error("write", u.key, err)
		}
		remoteStats.written.Add(int64(len(u.buf)))
		u.buf = nil
		return nil
	}
	if len(u.buf) > 0 {
		if err := u.sendPart(); err != nil {
			u.Abort()
			return err
		}
	}
	if err := u.wait(); err != nil {
		u.Abort()
		return err
	}
	if _, err := u.s.core.CompleteMultipartUpload(u.ctx, u.s.bucket, u.key, u.uploadID, u.parts, minio.PutObjectOptions{}); err != nil {
		u.Abort()
		return u.s.s3Error("write", u.key, err)
	}
	u.done = true
	openUploads.remove(u)
	return nil
}

// Abort discards the parts sent so far. It runs even when the context is done (a
// cancelled run must not leave parts billed in the bucket), with a short deadline of its own.
func (u *s3Upload) Abort() {
	if u.done {
		return
	}
	u.done = true
	u.wait()
	u.buf, u.spare = nil, nil
	if u.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 30*time.Second)
	defer cancel()
	u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, u.uploadID)
	openUploads.remove(u)
}

// openUploads are the multipart uploads started and not yet completed or aborted, for
// AbortPending: a process about to exit on a signal aborts them rather than leave parts
// stored (and billed) in the bucket.
var openUploads uploadSet

type uploadSet struct {
	sync.Mutex
	m map[*s3Upload]struct{}
}

func (s *uploadSet) add(u *s3Upload) {
	s.Lock()
	defer s.Unlock()
	if s.m == nil {
		s.m = map[*s3Upload]struct{}{}
	}
	s.m[u] = struct{}{}
}

func (s *uploadSet) remove(u *s3Upload) {
	s.Lock()
	delete(s.m, u)
	s.Unlock()
}

// abortAll aborts every open upload at once, waiting at most a few seconds.
func (s *uploadSet) abortAll() {
	s.Lock()
	list := make([]*s3Upload, 0, len(s.m))
	for u := range s.m {
		list = append(list, u)
	}
	s.m = nil
	s.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, u := range list {
		wg.Go(func() { u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, u.uploadID) })
	}
	wg.Wait()
}

func (s *s3Storage) checkBucket(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.s3Error("open", "", err)
	}
	if !ok {
		return fmt.Errorf("refit: %s: bucket %q does not exist: %w", s.URL(""), s.bucket, fs.ErrNotExist)
	}
	return nil
}
