// Package remote holds the tests of Refit's remote paths, run through the refit
// command:
//
//   - s3:// against a real S3-compatible server, SeaweedFS's S3 gateway (built by
//     scripts/setup, started by TestMain on free loopback ports, with one identity so
//     requests are authenticated): inspect reads headers only (requests counted, the
//     same for a small and a large checkpoint), convert and quantize S3 -> S3 give
//     objects byte-identical to local runs with the memory bound of a local run, and
//     bad credentials, a missing bucket or key, and a server that goes away mid-read
//     give clear errors, a non-zero exit and no committed object;
//   - https:// against a Go TLS test server with Range support, trusted by the child
//     process through SSL_CERT_FILE.
//
// The package has no exported API. The s3:// tests skip when SeaweedFS is not built,
// and fail then under REFIT_REQUIRE_TOOLS=1.
package remote
