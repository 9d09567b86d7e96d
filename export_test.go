package refit

import (
	"net/http"
	"time"
)

// SetIdleTimeoutForTest sets how long a response may stall until the returned func runs.
func SetIdleTimeoutForTest(d time.Duration) (restore func()) {
	old := idleTimeout
	idleTimeout = d
	return func() { idleTimeout = old }
}

// SetRemoteTransportForTest makes remote requests through rt (a test server's
// client transport, which trusts its certificate) until the returned func runs.
func SetRemoteTransportForTest(rt http.RoundTripper) (restore func()) {
	c := httpClient()
	old := c.Transport
	c.Transport = countingTransport{rt}
	return func() { c.Transport = old }
}
