package refit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	neturl "net/url"
	"sync"
	"time"
)

// httpStorage reads files from a web server with Range requests. It cannot list or
// write. A query string (a pre-signed URL's signature) applies only to the key the user
// gave; the files that one references (shards) are requested without it.
type httpStorage struct {
	base        string // scheme://host/
	query, qkey string
}

// httpClient is shared by every web and S3 request: one connection pool, and a limit on
// how long a server may take to start answering, so a dead server fails a read instead
// of hanging it.
var httpClient = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: countingTransport{t}}
})

// countingTransport counts every request made to remote storage, web or S3.
type countingTransport struct{ rt http.RoundTripper }

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	remoteStats.requests.Add(1)
	return c.rt.RoundTrip(req)
}

func newHTTPStorage(base, query, key string) *httpStorage {
	return &httpStorage{base: base, query: query, qkey: key}
}

func (h *httpStorage) URL(key string) string {
	u := h.base + key
	if h.query != "" && h.qkey == key {
		u += "?" + h.query
	}
	return u
}

// show is how errors name key: without the query string, which may hold a signature,
// and without the user information (user:password@) of the base.
func (h *httpStorage) show(key string) string { return ShowPath(h.base + key) }

func (h *httpStorage) request(ctx context.Context, method, key string, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.URL(key), nil)
	if err != nil {
		return nil, fmt.Errorf("refit: %s: %w", h.show(key), err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// The bytes as stored: a transparently decompressed body would not match the ranges.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := httpClient().Do(req)
	if err != nil {
		// url.Error repeats the URL with its query string, which may hold a signature.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("refit: %s: %w", h.show(key), err)
	}
	return resp, nil
}

// statusError turns a failed response into an error wrapping fs.ErrNotExist or
// fs.ErrPermission where those apply.
func (h *httpStorage) statusError(key string, resp *http.Response) error {
	var cause error
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		cause = fs.ErrNotExist
	case http.StatusUnauthorized, http.StatusForbidden:
		cause = fs.ErrPermission
	default:
		cause = fmt.Errorf("HTTP %s", resp.Status)
	}
	return &fs.PathError{Op: "open", Path: h.show(key), Err: cause}
}

func (h *httpStorage) Stat(ctx context.Context, key string) (int64, error) {
	resp, err := h.request(ctx, http.MethodHead, key, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, h.statusError(key, resp)
	}
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("refit: %s: server gave no Content-Length: %w", h.show(key), ErrUnsupported)
	}
	return resp.ContentLength, nil
}

// Open asks for the first block with a range request, which tells the size
// (Content-Range) and fills the cache in the same request.
func (h *httpStorage) Open(ctx context.Context, key string) (File, error) {
	url := h.show(key)
	w := newWatchdog(ctx)
	defer w.stop()
	resp, err := h.request(w.ctx, http.MethodGet, key, map[string]string{"Range": fmt.Sprintf("bytes=0-%d", firstBlock-1)})
	if err != nil {
		return nil, w.explain(err)
	}
	defer resp.Body.Close()
	resp.Body = &watchedBody{resp.Body, w}
	var size, n int64
	switch resp.StatusCode {
	case http.StatusPartialContent:
		_, last, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || total < 0 || last >= total {
			return nil, fmt.Errorf("refit: %s: bad Content-Range %q: %w", url, resp.Header.Get("Content-Range"), ErrFormat)
		}
		if err := checkRange(url, resp.Header.Get("Content-Range"), 0, min(firstBlock, total), total); err != nil {
			return nil, err
		}
		size, n = total, min(firstBlock, total)
	case http.StatusRequestedRangeNotSatisfiable: // an empty file
		size, n = 0, 0
	case http.StatusOK:
		// The server ignored Range. A file that fits in the first block is read whole;
		// anything larger would be downloaded in full for every read.
		noRange := fmt.Errorf("refit: %s: the server does not answer Range requests (HTTP 200 with the whole file), which reading a model remotely needs: %w", url, ErrUnsupported)
		if resp.ContentLength > firstBlock {
			return nil, noRange
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, firstBlock+1))
		remoteStats.read.Add(int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("refit: %s: %w", url, err)
		}
		if len(data) > firstBlock || (resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength) {
			return nil, noRange
		}
		f := newRangeFile(url, int64(len(data)), func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			return nil, noRange // never called: the whole file is cached
		})
		f.blocks = []cachedBlock{{0, data}}
		return f, nil
	default:
		return nil, h.statusError(key, resp)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return nil, fmt.Errorf("refit: %s: Content-Length %d for a range of %d bytes: %w", url, resp.ContentLength, n, ErrFormat)
	}
	f := newRangeFile(url, size, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		return h.fetch(ctx, key, off, n, size)
	})
	if n > 0 {
		data := make([]byte, n)
		if err := readExact(&checkedBody{rc: resp.Body, left: n, url: url}, data); err != nil {
			return nil, f.readError(0, n, err)
		}
		f.blocks = []cachedBlock{{0, data}}
		f.lastEnd, f.lastLen = n, n
	}
	return f, nil
}

func (h *httpStorage) fetch(ctx context.Context, key string, off, n, size int64) (io.ReadCloser, error) {
	url := h.show(key)
	resp, err := h.request(ctx, http.MethodGet, key, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+n-1)})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (io.ReadCloser, error) {
		resp.Body.Close()
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkRange(url, resp.Header.Get("Content-Range"), off, n, size); err != nil {
			return fail(err)
		}
	case http.StatusOK:
		if off != 0 || n != size || resp.ContentLength != size {
			return fail(fmt.Errorf("refit: %s: the server ignored a Range request (HTTP 200): %w", url, ErrUnsupported))
		}
	default:
		return fail(h.statusError(key, resp))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return fail(fmt.Errorf("refit: %s: Content-Length %d for a range of %d bytes: %w", url, resp.ContentLength, n, ErrFormat))
	}
	return &checkedBody{rc: resp.Body, left: n, url: url}, nil
}

func (h *httpStorage) List(ctx context.Context, prefix string) ([]fs.DirEntry, error) {
	return nil, fmt.Errorf("refit: %s: a web server cannot list a folder; name the file (an index names its shards): %w", h.show(prefix), ErrUnsupported)
}

func (h *httpStorage) Create(ctx context.Context, key string) (PendingObject, error) {
	return nil, fmt.Errorf("refit: %s: cannot write to a web server; write to s3:// or a local path: %w", h.show(key), ErrUnsupported)
}

func (h *httpStorage) Remove(ctx context.Context, key string) error {
	return fmt.Errorf("refit: %s: cannot remove from a web server: %w", h.show(key), ErrUnsupported)
}
