package refit

import "net/http"

// SetRemoteTransportForTest makes remote requests through rt (a test server's
// client transport, which trusts its certificate) until the returned func runs.
func SetRemoteTransportForTest(rt http.RoundTripper) (restore func()) {
	c := httpClient()
	old := c.Transport
	c.Transport = countingTransport{rt}
	return func() { c.Transport = old }
}
